# Sourced by the set-up scripts: lock NAME takes an exclusive lock on
# $cache/locks/NAME.lock for the rest of the script (released when it
# exits), waiting for another holder, so that set-up that several processes
# may start at once (go test runs each package's tests in a process of its
# own) is done by one of them while the others wait, then find it made.
lock() {
	mkdir -p "$cache/locks"
	exec 9>"$cache/locks/$1.lock"
	if ! flock -n 9; then
		echo "${0##*/}: waiting for another set-up of $1 (lock $cache/locks/$1.lock)" >&2
		flock 9
	fi
}
