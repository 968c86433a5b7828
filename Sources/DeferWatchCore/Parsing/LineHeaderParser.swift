/// Splits a text log line into a `LogRecord`: the timestamp, host, program and message.
///
/// Recognised, with no configuration:
/// - RFC 3164 syslog: `Nov 28 10:00:00 host prog[pid]: msg` (day padded with a space or a
///   zero, optional fractional seconds as in `journalctl -o short-precise`);
/// - RFC 3339 syslog: `2026-11-28T10:00:00.123456+01:00 host prog[pid]: msg`, also the
///   `+0100` offsets of `journalctl -o short-iso`;
/// - Exim's mainlog: `2026-11-28 10:00:00[.mmm][ +0100] [pid] msg`, whose program is `exim`
///   and whose host is the configured default host.
///
/// RFC 3164 has no year. A line's year is the latest one that does not put the line after
/// the reference date (the file's modification time, or "now" for standard input and for a
/// followed log) by more than a day: a log is written before it is read. The rule looks at
/// the line and the reference only, so a stray line (a host that booted without a clock,
/// another month) cannot move the year of the lines after it, a log crossing New Year stays
/// in order, reading a file from any point (as the parallel reader does) gives the same
/// years, and no input can make the year grow. A log that spans more than a year is
/// ambiguous: its lines older than a year are placed a year late.
public struct LineHeaderParser {
    public let zone: any LocalTimeZone
    public let defaultHost: [UInt8]
    private var hintYear: Int
    /// The reference date as a day number, plus the day of slack.
    private var latestDay: Int
    /// The month and day of the last line, and the year they gave.
    private var lastMonthDay = -1
    private var lastYear = 0
    private var zoneCacheKey = -1
    private var zoneCacheOffset = 0
    /// The day of the last timestamp (lines come thousands to a day).
    private var dayCacheKey = -1
    private var dayCacheDays: Int64 = 0
    /// The local hour (seconds / 3600) of the last zone-less Exim timestamp, and its offset.
    private var hourCacheKey = Int64.min
    private var hourCacheOffset = 0

    /// - Parameters:
    ///   - yearHint/monthHint/dayHint: the date the log *ends* by (file mtime, or now); no
    ///     day means the end of that month.
    ///   - zone: the time zone of timestamps that carry none.
    ///   - defaultHost: the host of lines that do not name one (Exim's mainlog).
    public init(yearHint: Int, monthHint: Int, dayHint: Int? = nil, zone: any LocalTimeZone = FixedOffsetZone(),
                defaultHost: String = "localhost") {
        hintYear = yearHint
        latestDay = Self.latestDay(yearHint, monthHint, dayHint)
        self.zone = zone
        self.defaultHost = Array(defaultHost.utf8)
    }

    /// Parses the header; nil when the line has no timestamp deferwatch knows.
    /// `defaultHostBuffer` must be `defaultHost` pinned by the caller (see `parse(_:)`).
    public mutating func parse(_ line: Bytes, defaultHostBuffer: Bytes) -> LogRecord? {
        guard line.count >= 16 else { return nil }
        let c0 = line[0]
        if c0 >= UInt8(ascii: "A") && c0 <= UInt8(ascii: "Z") {
            return parseRFC3164(line)
        }
        if c0 >= UInt8(ascii: "0") && c0 <= UInt8(ascii: "9") && line.count >= 20 && line[4] == UInt8(ascii: "-") && line[7] == UInt8(ascii: "-") {
            if line[10] == UInt8(ascii: "T") { return parseRFC3339(line) }
            if line[10] == UInt8(ascii: " ") { return parseEximMainlog(line, host: defaultHostBuffer) }
        }
        return nil
    }

    // MARK: - RFC 3164

    private mutating func parseRFC3164(_ line: Bytes) -> LogRecord? {
        guard let month = CivilTime.month(line[0], line[1], line[2]), line[3] == UInt8(ascii: " ") else { return nil }
        var day: Int
        if line[4] == UInt8(ascii: " ") {
            guard let d = line.decimal(at: 5, digits: 1) else { return nil }
            day = d
        } else {
            guard let d = line.decimal(at: 4, digits: 2) else { return nil }
            day = d
        }
        guard line[6] == UInt8(ascii: " "),
              let hour = line.decimal(at: 7, digits: 2), line[9] == UInt8(ascii: ":"),
              let minute = line.decimal(at: 10, digits: 2), line[12] == UInt8(ascii: ":"),
              let second = line.decimal(at: 13, digits: 2),
              CivilTime.isValid(month: month, day: day, hour: hour, minute: minute, second: second)
        else { return nil }
        var i = 15
        let micros = fraction(line, &i)
        guard i < line.count, line[i] == UInt8(ascii: " ") else { return nil }
        let y = inferYear(month: month, day: day)
        let local = epochSeconds(year: y, month: month, day: day, hour: hour, minute: minute, second: second)
        let offset = localOffset(year: y, month: month, day: day, hour: hour)
        let time = (local - Int64(offset)) * CivilTime.microsPerSecond + micros
        return syslogTail(line, from: i + 1, time: time)
    }

    /// Moves the reference date (a followed log: the day changes while it is read).
    public mutating func setReference(year: Int, month: Int, day: Int) {
        let latest = Self.latestDay(year, month, day)
        guard latest != latestDay || year != hintYear else { return }
        hintYear = year
        latestDay = latest
        lastMonthDay = -1
    }

    private static func latestDay(_ year: Int, _ month: Int, _ day: Int?) -> Int {
        let m = min(max(month, 1), 12)
        let end = m == 12 ? CivilTime.daysFromCivil(year: year + 1, month: 1, day: 1) - 1
            : CivilTime.daysFromCivil(year: year, month: m + 1, day: 1) - 1
        let d = day.map { CivilTime.daysFromCivil(year: year, month: m, day: min(max($0, 1), 31)) } ?? end
        return d + 1
    }

    private mutating func inferYear(month: Int, day: Int) -> Int {
        let key = month * 32 + day
        if key == lastMonthDay { return lastYear }
        lastMonthDay = key
        lastYear = CivilTime.daysFromCivil(year: hintYear, month: month, day: day) > latestDay ? hintYear - 1 : hintYear
        return lastYear
    }

    /// `CivilTime.epochSeconds`, with the day remembered.
    private mutating func epochSeconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64 {
        let key = (year * 13 + month) * 32 + day
        if key != dayCacheKey {
            dayCacheKey = key
            dayCacheDays = Int64(CivilTime.daysFromCivil(year: year, month: month, day: day))
        }
        return dayCacheDays * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    private mutating func localOffset(year: Int, month: Int, day: Int, hour: Int) -> Int {
        let key = ((year * 13 + month) * 32 + day) * 24 + hour
        if key != zoneCacheKey {
            zoneCacheKey = key
            zoneCacheOffset = zone.utcOffset(year: year, month: month, day: day, hour: hour)
        }
        return zoneCacheOffset
    }

    /// Optional `.digits` at `i`; returns microseconds and advances `i`.
    private func fraction(_ line: Bytes, _ i: inout Int) -> Int64 {
        guard i < line.count, line[i] == UInt8(ascii: ".") || line[i] == UInt8(ascii: ",") else { return 0 }
        i += 1
        var micros: Int64 = 0
        var digits = 0
        while i < line.count, line.isDigit(at: i) {
            if digits < 6 { micros = micros * 10 + Int64(line[i] - 48); digits += 1 }
            i += 1
        }
        while digits < 6 { micros *= 10; digits += 1 }
        return micros
    }

    // MARK: - RFC 3339

    private mutating func parseRFC3339(_ line: Bytes) -> LogRecord? {
        guard let (local, micros, offset, end) = isoTimestamp(line, dateTimeSeparator: 84) else { return nil }
        guard let offset, end < line.count, line[end] == UInt8(ascii: " ") else { return nil }
        return syslogTail(line, from: end + 1, time: (local - Int64(offset)) * CivilTime.microsPerSecond + micros)
    }

    /// `YYYY-MM-DD?HH:MM:SS[.frac][Z|+HH:MM|+HHMM]`; returns local seconds, micros,
    /// the zone offset if one was written, and the index after the timestamp.
    private mutating func isoTimestamp(_ line: Bytes, dateTimeSeparator: UInt8) -> (Int64, Int64, Int?, Int)? {
        guard let y = line.decimal(at: 0, digits: 4),
              let mo = line.decimal(at: 5, digits: 2),
              let d = line.decimal(at: 8, digits: 2),
              line[10] == dateTimeSeparator,
              let h = line.decimal(at: 11, digits: 2), line[13] == UInt8(ascii: ":"),
              let mi = line.decimal(at: 14, digits: 2), line[16] == UInt8(ascii: ":"),
              let s = line.decimal(at: 17, digits: 2),
              CivilTime.isValid(month: mo, day: d, hour: h, minute: mi, second: s)
        else { return nil }
        var i = 19
        let micros = fraction(line, &i)
        let local = epochSeconds(year: y, month: mo, day: d, hour: h, minute: mi, second: s)
        var offset: Int?
        if i < line.count && line[i] == UInt8(ascii: "Z") { // Z
            offset = 0
            i += 1
        } else if i < line.count && (line[i] == UInt8(ascii: "+") || line[i] == UInt8(ascii: "-")) {
            let sign = line[i] == UInt8(ascii: "-") ? -1 : 1
            if let oh = line.decimal(at: i + 1, digits: 2) {
                if i + 3 < line.count, line[i + 3] == UInt8(ascii: ":"), let om = line.decimal(at: i + 4, digits: 2) {
                    offset = sign * (oh * 3600 + om * 60)
                    i += 6
                } else if let om = line.decimal(at: i + 3, digits: 2) {
                    offset = sign * (oh * 3600 + om * 60)
                    i += 5
                }
            }
        }
        return (local, micros, offset, i)
    }

    // MARK: - Exim mainlog

    private mutating func parseEximMainlog(_ line: Bytes, host: Bytes) -> LogRecord? {
        guard let (local, micros, _, end0) = isoTimestamp(line, dateTimeSeparator: 32) else { return nil }
        var i = end0
        var offset: Int?
        // log_timezone: ` +0100` / ` -0200` after the time.
        if i + 5 < line.count, line[i] == UInt8(ascii: " "), line[i + 1] == UInt8(ascii: "+") || line[i + 1] == UInt8(ascii: "-"),
           let oh = line.decimal(at: i + 2, digits: 2), let om = line.decimal(at: i + 4, digits: 2),
           i + 6 == line.count || line[i + 6] == UInt8(ascii: " ") {
            offset = (line[i + 1] == UInt8(ascii: "-") ? -1 : 1) * (oh * 3600 + om * 60)
            i += 6
        }
        guard i < line.count, line[i] == UInt8(ascii: " ") else { return nil }
        i += 1
        if offset == nil {
            let hourKey = local / 3600
            if hourKey != hourCacheKey {
                let (y, mo, d) = CivilTime.civilFromDays(Int(local / 86_400))
                hourCacheOffset = localOffset(year: y, month: mo, day: d, hour: Int(local % 86_400 / 3600))
                hourCacheKey = hourKey
            }
            offset = hourCacheOffset
        }
        // Optional `[pid]` (log_selector +pid).
        if i < line.count, line[i] == UInt8(ascii: "["), let close = line.index(of: UInt8(ascii: "]"), from: i), close - i < 24 {
            i = close + 1
            if i < line.count, line[i] == UInt8(ascii: " ") { i += 1 }
        }
        let time = (local - Int64(offset!)) * CivilTime.microsPerSecond + micros
        return LogRecord(time: time, host: host, program: eximProgram, message: line.dropFirst(i))
    }

    // MARK: - The part after the timestamp

    /// ` host program[pid]: message` starting at `from` (the host's first byte).
    private func syslogTail(_ line: Bytes, from: Int, time: Int64) -> LogRecord? {
        guard let hostEnd = line.index(of: UInt8(ascii: " "), from: from), hostEnd > from else { return nil }
        let host = line.slice(from, hostEnd)
        let tagStart = hostEnd + 1
        // The tag ends at `[` (pid follows) or at `:`; it never contains a space.
        var i = tagStart
        var programEnd = -1
        while i < line.count {
            let b = line[i]
            if b == UInt8(ascii: "[") { // [
                programEnd = i
                guard let close = line.index(of: UInt8(ascii: "]"), from: i) else { return nil }
                i = close + 1
                guard i < line.count, line[i] == UInt8(ascii: ":") else { return nil }
                break
            }
            if b == UInt8(ascii: ":") { programEnd = i; break }
            if b == UInt8(ascii: " ") { return nil }
            i += 1
        }
        guard programEnd > tagStart, i < line.count else { return nil }
        var msgStart = i + 1
        if msgStart < line.count, line[msgStart] == UInt8(ascii: " ") { msgStart += 1 }
        return LogRecord(time: time, host: host, program: line.slice(tagStart, programEnd), message: line.dropFirst(msgStart))
    }
}

private let eximProgramStorage = PinnedBytes(Array("exim".utf8))

/// The program name given to Exim mainlog lines.
nonisolated(unsafe) let eximProgram = eximProgramStorage.bytes
