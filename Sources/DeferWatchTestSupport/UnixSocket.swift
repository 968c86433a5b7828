import Foundation

/// Calls `body` with the sockaddr_un of `path`.
public func withUnixAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        let p = Array(path.utf8.prefix(raw.count - 1))
        raw.copyBytes(from: p)
        raw[p.count] = 0
    }
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}

/// A bound AF_UNIX datagram socket at `path` (a stand-in syslog or NOTIFY_SOCKET); -1 on error.
public func bindDatagramSocket(path: String) -> Int32 {
    bindUnixSocket(path: path, type: SOCK_DGRAM)
}

/// A bound (not listening) AF_UNIX socket of `type` at `path`; -1 on error.
public func bindUnixSocket(path: String, type: __socket_type) -> Int32 {
    let fd = socket(AF_UNIX, Int32(type.rawValue), 0)
    guard fd >= 0 else { return -1 }
    if withUnixAddress(path, { bind(fd, $0, $1) }) != 0 {
        close(fd)
        return -1
    }
    return fd
}

/// A stream socket connected to `path`, with send and receive timeouts; -1 on error.
public func connectStreamSocket(path: String, timeout: Int = 10) -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    if withUnixAddress(path, { connect(fd, $0, $1) }) != 0 {
        close(fd)
        return -1
    }
    return fd
}
