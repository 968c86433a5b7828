#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// Asks the running daemon over its status socket: one HTTP/1.1 GET, the whole answer.
public enum StatusClient {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        /// The daemon is not running (no socket, or nobody answers on it).
        public var notRunning = false
    }

    public struct Answer {
        public var status: Int
        public var body: [UInt8]
    }

    public static func get(socket path: String, target: String, timeout: Int = 10) throws(Failure) -> Answer {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "cannot create a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if connectUnix(fd, path) != 0 {
            let e = errno
            switch e {
            case ENOENT, ECONNREFUSED:
                throw Failure(description: """
                    deferwatch is not running (\(e == ENOENT ? "no status socket at" : "nobody answers on") \(path)).
                    Start it with: systemctl start deferwatch   (or: deferwatch run; the quick start: deferwatch run --demo)
                    """, notRunning: true)
            case EACCES:
                throw Failure(description: "permission denied on \(path): run as root, or join the socket's group ([status] socket_group)")
            default:
                throw Failure(description: "cannot connect to \(path): \(String(cString: strerror(e)))")
            }
        }
        let request = Array("GET \(target) HTTP/1.1\r\nHost: localhost\r\nUser-Agent: deferwatch/\(DeferWatchVersion.string)\r\nConnection: close\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure(description: "cannot send the request to \(path): \(String(cString: strerror(errno)))") }
            sent += n
        }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                throw Failure(description: errno == EAGAIN ? "deferwatch did not answer within \(timeout) s on \(path)"
                              : "reading the answer from \(path) failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            data += buf[0..<n]
            if data.count > 64 << 20 { throw Failure(description: "the answer from \(path) is larger than 64 MiB") }
        }
        return try parse(data, from: path)
    }

    static func parse(_ data: [UInt8], from path: String) throws(Failure) -> Answer {
        let sep: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, data.count - 3)).first(where: { data[$0..<$0 + 4].elementsEqual(sep) }) else {
            throw Failure(description: "not an HTTP answer on \(path)")
        }
        let head = String(decoding: data[0..<end], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else {
            throw Failure(description: "not an HTTP answer on \(path): \(statusLine.prefix(80))")
        }
        return Answer(status: code, body: Array(data[(end + 4)...]))
    }
}

