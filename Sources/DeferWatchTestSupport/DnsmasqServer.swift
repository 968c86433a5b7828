#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A real DNS server for tests: dnsmasq on 127.0.0.1 and a free port, answering only from
/// the records the test gives (dnsmasq option lines: `host-record=`, `ptr-record=`,
/// `txt-record=`, `mx-host=`) for the zones in `zones`, NXDOMAIN for other names in them.
public final class DnsmasqServer {
    public static let binary = "/usr/sbin/dnsmasq"
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    public let port: Int
    public let directory: URL
    /// Started with posix_spawn, not Foundation's Process: dnsmasq closes every inherited
    /// descriptor at start, which Process takes for its exit, and then it blocks in
    /// waitpid on it, reaping no other child of the test.
    private var pid: pid_t = 0

    /// `"127.0.0.1:port"`, for `[dns] servers`.
    public var server: String { "127.0.0.1:\(port)" }

    public init(zones: [String], records: [String]) throws {
        guard Self.isAvailable else { throw FixtureError(message: "dnsmasq is not installed (apt-get install dnsmasq-base)") }
        directory = TestPaths.temporaryDirectory("dnsmasq")
        port = try Self.freeUDPPort()
        var conf = ["port=\(port)", "listen-address=127.0.0.1", "bind-interfaces", "no-resolv", "no-hosts", "no-poll",
                    "local-ttl=300", "cache-size=0", "log-queries"]
        conf += zones.map { "local=/\($0)/" }
        conf += records
        let confURL = directory.appendingPathComponent("dnsmasq.conf")
        try (conf.joined(separator: "\n") + "\n").write(to: confURL, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("log")
        // No pid file; as root, stay root (dropping to nobody would lose the log file in a
        // directory only root may write).
        let args = [Self.binary, "--conf-file=\(confURL.path)", "--keep-in-foreground", "--pid-file=",
                    "--log-facility=\(log.path)"] + (getuid() == 0 ? ["--user=root"] : [])
        pid = try Self.spawn(args)
        // Ready when it says so in its log.
        let ready = eventually(timeout: 20) { (try? String(contentsOf: log, encoding: .utf8))?.contains("started") == true }
        if !ready {
            stop()
            throw FixtureError(message: "dnsmasq did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "no log")")
        }
    }

    /// The queries dnsmasq saw (its log).
    public var log: String { (try? String(contentsOf: directory.appendingPathComponent("log"), encoding: .utf8)) ?? "" }

    public func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        let gone = eventually(timeout: 5) {
            let r = waitpid(pid, &status, WNOHANG)
            return r == pid || (r == -1 && errno == ECHILD)
        }
        if !gone {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
        pid = 0
    }

    /// posix_spawn with standard input, output and error on /dev/null, and no signal
    /// blocked (the test's threads block some, and a child inherits the mask: SIGTERM
    /// would wait forever).
    static func spawn(_ args: [String]) throws -> pid_t {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in Int32(0)...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        let argv = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, args[0], &actions, &attr, argv, environ)
        guard rc == 0 else { throw FixtureError(message: "cannot start \(args[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// A UDP port nothing listens on now (bound once, to port 0, then let go).
    public static func freeUDPPort() throws -> Int {
        let (fd, port) = try boundUDPSocket()
        close(fd)
        return port
    }
}

/// A UDP socket bound to 127.0.0.1 on a port the kernel picks, and that port.
func boundUDPSocket() throws -> (Int32, Int) {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { throw FixtureError(message: "socket: \(errno)") }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard bound else {
        close(fd)
        throw FixtureError(message: "bind: \(errno)")
    }
    return (fd, Int(UInt16(bigEndian: addr.sin_port)))
}

/// A DNS server that never answers: a UDP socket on 127.0.0.1 that takes the queries and
/// reads none (a resolver that hangs).
public final class SilentDNSServer {
    public let port: Int
    private let fd: Int32
    public var server: String { "127.0.0.1:\(port)" }

    public init() throws {
        (fd, port) = try boundUDPSocket()
    }

    deinit { close(fd) }
}
