import Foundation

/// A bound AF_UNIX datagram socket at `path` (a stand-in syslog or NOTIFY_SOCKET); -1 on error.
public func bindDatagramSocket(path: String) -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        let p = Array(path.utf8)
        raw.copyBytes(from: p)
        raw[p.count] = 0
    }
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    if rc != 0 {
        close(fd)
        return -1
    }
    return fd
}
