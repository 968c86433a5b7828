import DeferWatchCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What Postfix itself says of its queue: `postconf -h maximal_queue_lifetime`.
public enum PostfixQueue {
    /// Postfix's queue lifetime in microseconds, or nil when postconf is not there or says
    /// nothing deferwatch can read.
    public static func lifetime(postconf: String = "/usr/sbin/postconf") -> Int64? {
        guard FileManager.default.isExecutableFile(atPath: postconf) else { return nil }
        guard let run = try? ProgramRun.run(postconf, ["-h", "maximal_queue_lifetime"]), run.status == 0 else { return nil }
        let text = String(decoding: run.output, as: UTF8.self)
        return parseTime(String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()))
    }

    /// A Postfix time value (`5d`, `432000s`, `2w`, a bare number in days, the parameter's
    /// default unit), in microseconds; nil for anything else or past 100 days.
    public static func parseTime(_ s: String) -> Int64? {
        guard !s.isEmpty else { return nil }
        var digits = Substring(s)
        var unit: Int64 = 86_400
        if let last = s.last, !last.isNumber {
            switch last {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86_400
            case "w": unit = 7 * 86_400
            default: return nil
            }
            digits = digits.dropLast()
        }
        guard digits.count <= 9, let n = Int64(digits), n >= 0 else { return nil }
        let seconds = n * unit
        guard seconds <= 100 * 86_400 else { return nil }
        return seconds * TrackerConfig.second
    }
}
