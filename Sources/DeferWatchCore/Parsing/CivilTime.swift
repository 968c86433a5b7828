/// Calendar arithmetic without Foundation: proleptic Gregorian, UTC.
/// Times inside deferwatch are microseconds since the Unix epoch (`Int64`).
public enum CivilTime {
    public static let microsPerSecond: Int64 = 1_000_000

    /// Days since 1970-01-01 for a civil date (Howard Hinnant's algorithm).
    @inlinable public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date of a day number.
    @inlinable public static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// Seconds since the epoch of a civil UTC time.
    @inlinable public static func epochSeconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64 {
        Int64(daysFromCivil(year: year, month: month, day: day)) * 86_400
            + Int64(hour * 3600 + minute * 60 + second)
    }

    public static func isValid(month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Bool {
        month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 && second <= 60
    }

    /// RFC 3339 in UTC: `2026-11-28T10:00:00Z`, with microseconds when they are not zero.
    public static func rfc3339(_ micros: Int64) -> String {
        var out = [UInt8]()
        out.reserveCapacity(27)
        appendRFC3339(micros, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public static func appendRFC3339(_ micros: Int64, to out: inout [UInt8]) {
        var secs = micros / microsPerSecond
        var frac = micros % microsPerSecond
        if frac < 0 { frac += microsPerSecond; secs -= 1 }
        var days = secs / 86_400
        var rem = secs % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        let (y, m, d) = civilFromDays(Int(days))
        func put(_ v: Int, _ width: Int) {
            var div = 1
            for _ in 1..<width { div *= 10 }
            while div > 0 {
                out.append(UInt8(truncatingIfNeeded: 48 + (v / div) % 10))
                div /= 10
            }
        }
        put(y, 4); out.append(UInt8(ascii: "-")); put(m, 2); out.append(UInt8(ascii: "-")); put(d, 2)
        out.append(84)
        put(Int(rem / 3600), 2); out.append(UInt8(ascii: ":")); put(Int(rem / 60 % 60), 2); out.append(UInt8(ascii: ":")); put(Int(rem % 60), 2)
        if frac != 0 {
            out.append(UInt8(ascii: "."))
            put(Int(frac), 6)
        }
        out.append(UInt8(ascii: "Z"))
    }

    /// Month number (1-12) of an English three-letter month abbreviation, else nil.
    @inlinable public static func month(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> Int? {
        switch (a, b | 0x20, c | 0x20) {
        case (74, 97, 110): return 1   // Jan
        case (70, 101, 98): return 2   // Feb
        case (77, 97, 114): return 3   // Mar
        case (65, 112, 114): return 4  // Apr
        case (77, 97, 121): return 5   // May
        case (74, 117, 110): return 6  // Jun
        case (74, 117, 108): return 7  // Jul
        case (65, 117, 103): return 8  // Aug
        case (83, 101, 112): return 9  // Sep
        case (79, 99, 116): return 10  // Oct
        case (78, 111, 118): return 11 // Nov
        case (68, 101, 99): return 12  // Dec
        default: return nil
        }
    }
}

/// Converts a wall-clock time without a zone (RFC 3164 syslog, Exim mainlog without
/// `log_timezone`) to UTC. The core cannot ask the system; the caller provides this.
public protocol LocalTimeZone: Sendable {
    /// Seconds east of UTC in force at the given local wall-clock time.
    func utcOffset(year: Int, month: Int, day: Int, hour: Int) -> Int
}

/// A fixed offset; `UTCZone()` for tests and for logs written in UTC.
public struct FixedOffsetZone: LocalTimeZone {
    public let seconds: Int
    public init(seconds: Int = 0) { self.seconds = seconds }
    public func utcOffset(year: Int, month: Int, day: Int, hour: Int) -> Int { seconds }
}
