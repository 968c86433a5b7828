#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A program run to its end with its output and errors collected (what Foundation's
/// Process with two pipes gives, without Foundation): `postconf`, `postqueue -j`,
/// `exim -bp`. Standard input is /dev/null; the child starts with no signal blocked and
/// SIGPIPE, SIGTERM, SIGHUP and SIGINT at their defaults, whatever this process does with
/// them.
public struct ProgramRun: Sendable {
    /// The exit status, or 128 plus the signal that ended it.
    public var status: Int32
    public var output: [UInt8]
    public var errors: [UInt8]

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs `path` with `arguments` and waits for it; throws when it cannot start.
    public static func run(_ path: String, _ arguments: [String]) throws -> ProgramRun {
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        guard pipe(&out) == 0 else { throw Failure(description: "cannot run \(path): pipe: \(String(cString: strerror(errno)))") }
        guard pipe(&err) == 0 else {
            let e = errno
            close(out[0]); close(out[1])
            throw Failure(description: "cannot run \(path): pipe: \(String(cString: strerror(e)))")
        }
        // Not inherited by other children (pipe2 is a GNU extension Swift does not see;
        // the dup2 of the file actions clears the flag for the child's 1 and 2).
        for fd in out + err { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // Allocated, not `sigset_t()`: that initializer belongs to whichever C module
        // included <signal.h> first (CSystemd), which this file does not import.
        let none = UnsafeMutablePointer<sigset_t>.allocate(capacity: 1)
        let defaults = UnsafeMutablePointer<sigset_t>.allocate(capacity: 1)
        defer { none.deallocate(); defaults.deallocate() }
        sigemptyset(none)
        posix_spawnattr_setsigmask(&attr, none)
        sigemptyset(defaults)
        for s in [SIGPIPE, SIGTERM, SIGHUP, SIGINT] { sigaddset(defaults, s) }
        posix_spawnattr_setsigdefault(&attr, defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, environ)
        close(out[1])
        close(err[1])
        guard rc == 0 else {
            close(out[0]); close(err[0])
            throw Failure(description: "cannot run \(path): \(String(cString: strerror(rc)))")
        }

        // Both pipes at once: a child that fills one while we wait on the other would stall.
        var run = ProgramRun(status: 0, output: [], errors: [])
        var fds = [pollfd(fd: out[0], events: Int16(POLLIN), revents: 0), pollfd(fd: err[0], events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while fds.contains(where: { $0.fd >= 0 }) {
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    if i == 0 { run.output += buffer[..<n] } else { run.errors += buffer[..<n] }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    close(fds[i].fd)
                    fds[i].fd = -1
                }
            }
        }
        for f in fds where f.fd >= 0 { close(f.fd) }

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import (C macros).
        let signal = status & 0x7f
        run.status = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        return run
    }
}
