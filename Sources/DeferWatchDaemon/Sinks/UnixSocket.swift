#if canImport(Glibc)
import Glibc
#endif

/// sockaddr_un plumbing.
func withUnixAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8.prefix(107))
    withUnsafeMutableBytes(of: &addr.sun_path) { p in
        for (i, b) in bytes.enumerated() { p[i] = b }
        p[bytes.count] = 0
    }
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}

func bindUnix(_ fd: Int32, _ path: String) -> Int32 { withUnixAddress(path) { bind(fd, $0, $1) } }
func connectUnix(_ fd: Int32, _ path: String) -> Int32 { withUnixAddress(path) { connect(fd, $0, $1) } }
