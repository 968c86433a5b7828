#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// The system's local time zone (TZ, /etc/localtime), for timestamps that carry no zone.
public struct SystemTimeZone: LocalTimeZone {
    public init() { tzset() }

    public func utcOffset(year: Int, month: Int, day: Int, hour: Int) -> Int {
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month - 1)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour)
        t.tm_min = 30
        t.tm_isdst = -1
        let local = mktime(&t)
        guard local != -1 else { return 0 }
        return Int(t.tm_gmtoff)
    }

    /// The local calendar date of a time (the reference date of an RFC 3164 log).
    public static func date(of seconds: Int64) -> (year: Int, month: Int, day: Int) {
        var t = time_t(seconds)
        var out = tm()
        localtime_r(&t, &out)
        return (Int(out.tm_year) + 1900, Int(out.tm_mon) + 1, Int(out.tm_mday))
    }

    /// This machine's host name, for logs that do not name one (Exim's mainlog).
    public static func hostName() -> String {
        let name = fullHostName()
        return name.split(separator: ".").first.map(String.init) ?? name
    }

    /// The host's name as gethostname gives it, with its domain if it has one.
    public static func fullHostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, 255) == 0 else { return "localhost" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
