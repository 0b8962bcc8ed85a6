package output

import "testing"

func TestOutputValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Output
		ok   bool
	}{
		{name: "oci", o: Output{Type: "oci", Dest: "a.tar"}, ok: true},
		{name: "oci without dest", o: Output{Type: "oci"}},
		{name: "docker", o: Output{Type: "docker", Dest: "a.tar"}, ok: true},
		{name: "local", o: Output{Type: "local", Dest: "dir"}, ok: true},
		{name: "local without dest", o: Output{Type: "local"}},
		{name: "image", o: Output{Type: "image", Attrs: map[string]string{"name": "r/x:y"}}, ok: true},
		{name: "image without name", o: Output{Type: "image"}},
		{name: "no type", o: Output{Dest: "x"}},
		{name: "unknown type", o: Output{Type: "zip", Dest: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.o.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
