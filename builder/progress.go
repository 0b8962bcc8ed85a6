package builder

import (
	"bytes"
	"errors"
	"sync"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// WarningPrefix starts a line of a step's output that is a warning about
// the build rather than output: the build takes such lines out of the
// steps' output and reports each distinct one once, at the end of the
// progress, as a warning of the first step that said it, and in
// [Result.Warnings]. A recipe's steps say so what holds for many of them
// (the pip steps: that an sdist's build requirements float).
const WarningPrefix = "imagebuild: warning: "

// progress forwards the status of several solves to one channel, which it
// closes at the end, with the warnings the steps said (see
// [WarningPrefix]).
type progress struct {
	out chan *client.SolveStatus
	wg  sync.WaitGroup

	mu       sync.Mutex
	warnings []*client.VertexWarning
	// reasons are, by step, the last line each step said that starts
	// with [ReasonPrefix].
	reasons map[digest.Digest]string
}

// ReasonPrefix starts a line of a step's output that says why the step
// refuses to go on (a recipe's steps say so in one line: a locked file
// the index no longer serves, say): the last such line of a step that
// fails is its [StepError]'s Reason.
const ReasonPrefix = "imagebuild: error: "

// next returns the channel for the next solve, which the solve closes.
func (p *progress) next() chan *client.SolveStatus {
	if p.out == nil {
		return nil
	}
	ch := make(chan *client.SolveStatus)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for s := range ch {
			s.Logs = p.takeWarnings(s.Logs)
			p.out <- s
		}
	}()
	return ch
}

// takeWarnings takes the lines that start with WarningPrefix out of logs,
// keeping the first step's to say each.
func (p *progress) takeWarnings(logs []*client.VertexLog) []*client.VertexLog {
	out := logs[:0]
	for _, l := range logs {
		p.reason(l)
		if !bytes.Contains(l.Data, []byte(WarningPrefix)) {
			out = append(out, l)
			continue
		}
		var kept []byte
		for line := range bytes.Lines(l.Data) {
			text, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte(WarningPrefix))
			if !ok {
				kept = append(kept, line...)
				continue
			}
			p.warn(l.Vertex, string(text))
		}
		if len(kept) > 0 {
			c := *l
			c.Data = kept
			out = append(out, &c)
		}
	}
	return out
}

// reason keeps the last line of l, a step's output, that starts with
// ReasonPrefix.
func (p *progress) reason(l *client.VertexLog) {
	if !bytes.Contains(l.Data, []byte(ReasonPrefix)) {
		return
	}
	for line := range bytes.Lines(l.Data) {
		line = bytes.TrimRight(line, "\r\n")
		if bytes.HasPrefix(line, []byte(ReasonPrefix)) {
			p.mu.Lock()
			if p.reasons == nil {
				p.reasons = map[digest.Digest]string{}
			}
			p.reasons[l.Vertex] = string(bytes.TrimPrefix(line, []byte(ReasonPrefix)))
			p.mu.Unlock()
		}
	}
}

// explain gives err's [StepError] the reason its step said, if it said
// one.
func (p *progress) explain(err error) {
	var se *StepError
	if !errors.As(err, &se) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	se.Reason = p.reasons[se.Vertex]
}

func (p *progress) warn(v digest.Digest, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.warnings {
		if string(w.Short) == text {
			return
		}
	}
	p.warnings = append(p.warnings, &client.VertexWarning{Vertex: v, Level: 1, Short: []byte(text)})
}

// said returns the warnings the steps said, each once.
func (p *progress) said() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, w := range p.warnings {
		out = append(out, string(w.Short))
	}
	return out
}

func (p *progress) close() {
	if p.out != nil {
		p.wg.Wait()
		if len(p.warnings) > 0 {
			p.out <- &client.SolveStatus{Warnings: p.warnings}
		}
		close(p.out)
	}
}
