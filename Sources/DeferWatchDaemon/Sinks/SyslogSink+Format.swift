#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension SyslogSink {
    /// The datagram for one message: RFC 3164 (`<PRI>Mmm dd hh:mm:ss ident[pid]: msg`, what
    /// /dev/log readers expect) or RFC 5424.
    public func format(_ message: String, severity: Severity, now: Date = Date()) -> [UInt8] {
        let pri = config.facilityNumber * 8 + severity.syslogPriority
        var header: String
        switch config.format {
        case .rfc3164:
            var t = time_t(now.timeIntervalSince1970)
            var tmv = tm()
            localtime_r(&t, &tmv)
            let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            let day = tmv.tm_mday < 10 ? " \(tmv.tm_mday)" : "\(tmv.tm_mday)"
            func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
            header = "<\(pri)>\(months[Int(tmv.tm_mon)]) \(day) \(two(tmv.tm_hour)):\(two(tmv.tm_min)):\(two(tmv.tm_sec)) \(config.identifier)[\(pid)]: "
        case .rfc5424:
            let micros = Int64(now.timeIntervalSince1970 * 1_000_000)
            header = "<\(pri)>1 \(CivilTime.rfc3339(micros)) \(hostname) \(config.identifier) \(pid) - - "
        }
        var bytes = Array(header.utf8)
        let body = Array(message.utf8)
        bytes.append(contentsOf: body.prefix(max(0, Self.maxMessage - bytes.count)))
        return bytes
    }

    /// Queues a line about a problem of deferwatch itself (`alert=KIND severity=error`):
    /// its state, a source, a reload.
    public func enqueueProblem(_ kind: String, _ message: String) {
        enqueue(format("alert=\(kind) severity=error summary=\(AlertTransition.quote(message))", severity: .error))
    }

    /// Whether a datagram socket at `path` takes a connection now; nil when it does, else
    /// what is wrong (for the start's message: the sink itself finds out by sending).
    public static func probe(_ path: String) -> String? {
        guard path.utf8.count < Self.maxSocketPath else { return "path too long" }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return "socket: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        return connectUnix(fd, path) == 0 ? nil : "connect: \(String(cString: strerror(errno)))"
    }

    /// sun_path's size, its terminating NUL included.
    static let maxSocketPath = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
}
