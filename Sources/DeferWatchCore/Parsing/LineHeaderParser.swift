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
/// RFC 3164 has no year: the year comes from a hint (the file's modification time or the
/// caller's "now") and advances when the months wrap, so a log crossing New Year stays in
/// order. Lines of a few seconds out of order across New Year are placed in the right year.
public struct LineHeaderParser {
    public let zone: any LocalTimeZone
    public let defaultHost: [UInt8]
    private let hintYear: Int
    private let hintMonth: Int
    private var year = 0
    private var lastMonth = 0
    private var zoneCacheKey = -1
    private var zoneCacheOffset = 0
    /// The day of the last timestamp (lines come thousands to a day).
    private var dayCacheKey = -1
    private var dayCacheDays: Int64 = 0
    /// The local hour (seconds / 3600) of the last zone-less Exim timestamp, and its offset.
    private var hourCacheKey = Int64.min
    private var hourCacheOffset = 0

    /// - Parameters:
    ///   - yearHint/monthHint: the year and month in which the log *ends* (file mtime, or now).
    ///   - zone: the time zone of timestamps that carry none.
    ///   - defaultHost: the host of lines that do not name one (Exim's mainlog).
    public init(yearHint: Int, monthHint: Int, zone: any LocalTimeZone = FixedOffsetZone(), defaultHost: String = "localhost") {
        self.hintYear = yearHint
        self.hintMonth = monthHint
        self.zone = zone
        self.defaultHost = Array(defaultHost.utf8)
    }

    /// Parses the header; nil when the line has no timestamp deferwatch knows.
    /// `defaultHostBuffer` must be `defaultHost` pinned by the caller (see `parse(_:)`).
    public mutating func parse(_ line: Bytes, defaultHostBuffer: Bytes) -> LogRecord? {
        guard line.count >= 16 else { return nil }
        let c0 = line[0]
        if c0 >= 65 && c0 <= 90 {
            return parseRFC3164(line)
        }
        if c0 >= 48 && c0 <= 57 && line.count >= 20 && line[4] == 45 && line[7] == 45 {
            if line[10] == 84 { return parseRFC3339(line) }
            if line[10] == 32 { return parseEximMainlog(line, host: defaultHostBuffer) }
        }
        return nil
    }

    // MARK: - RFC 3164

    private mutating func parseRFC3164(_ line: Bytes) -> LogRecord? {
        guard let month = CivilTime.month(line[0], line[1], line[2]), line[3] == 32 else { return nil }
        var day: Int
        if line[4] == 32 {
            guard let d = line.decimal(at: 5, digits: 1) else { return nil }
            day = d
        } else {
            guard let d = line.decimal(at: 4, digits: 2) else { return nil }
            day = d
        }
        guard line[6] == 32,
              let hour = line.decimal(at: 7, digits: 2), line[9] == 58,
              let minute = line.decimal(at: 10, digits: 2), line[12] == 58,
              let second = line.decimal(at: 13, digits: 2),
              CivilTime.isValid(month: month, day: day, hour: hour, minute: minute, second: second)
        else { return nil }
        var i = 15
        let micros = fraction(line, &i)
        guard i < line.count, line[i] == 32 else { return nil }
        let y = inferYear(month: month)
        let local = epochSeconds(year: y, month: month, day: day, hour: hour, minute: minute, second: second)
        let offset = localOffset(year: y, month: month, day: day, hour: hour)
        let time = (local - Int64(offset)) * CivilTime.microsPerSecond + micros
        return syslogTail(line, from: i + 1, time: time)
    }

    private mutating func inferYear(month: Int) -> Int {
        if lastMonth == 0 {
            year = month > hintMonth ? hintYear - 1 : hintYear
            lastMonth = month
            return year
        }
        if month < lastMonth - 6 {
            year += 1
            lastMonth = month
            return year
        }
        if month > lastMonth + 6 {
            return year - 1
        }
        lastMonth = month
        return year
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
        guard i < line.count, line[i] == 46 || line[i] == 44 else { return 0 }
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
        guard let offset, end < line.count, line[end] == 32 else { return nil }
        return syslogTail(line, from: end + 1, time: (local - Int64(offset)) * CivilTime.microsPerSecond + micros)
    }

    /// `YYYY-MM-DD?HH:MM:SS[.frac][Z|+HH:MM|+HHMM]`; returns local seconds, micros,
    /// the zone offset if one was written, and the index after the timestamp.
    private mutating func isoTimestamp(_ line: Bytes, dateTimeSeparator: UInt8) -> (Int64, Int64, Int?, Int)? {
        guard let y = line.decimal(at: 0, digits: 4),
              let mo = line.decimal(at: 5, digits: 2),
              let d = line.decimal(at: 8, digits: 2),
              line[10] == dateTimeSeparator,
              let h = line.decimal(at: 11, digits: 2), line[13] == 58,
              let mi = line.decimal(at: 14, digits: 2), line[16] == 58,
              let s = line.decimal(at: 17, digits: 2),
              CivilTime.isValid(month: mo, day: d, hour: h, minute: mi, second: s)
        else { return nil }
        var i = 19
        let micros = fraction(line, &i)
        let local = epochSeconds(year: y, month: mo, day: d, hour: h, minute: mi, second: s)
        var offset: Int?
        if i < line.count && line[i] == 90 { // Z
            offset = 0
            i += 1
        } else if i < line.count && (line[i] == 43 || line[i] == 45) {
            let sign = line[i] == 45 ? -1 : 1
            if let oh = line.decimal(at: i + 1, digits: 2) {
                if i + 3 < line.count, line[i + 3] == 58, let om = line.decimal(at: i + 4, digits: 2) {
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
        if i + 5 < line.count, line[i] == 32, line[i + 1] == 43 || line[i + 1] == 45,
           let oh = line.decimal(at: i + 2, digits: 2), let om = line.decimal(at: i + 4, digits: 2),
           i + 6 == line.count || line[i + 6] == 32 {
            offset = (line[i + 1] == 45 ? -1 : 1) * (oh * 3600 + om * 60)
            i += 6
        }
        guard i < line.count, line[i] == 32 else { return nil }
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
        if i < line.count, line[i] == 91, let close = line.index(of: 93, from: i), close - i < 24 {
            i = close + 1
            if i < line.count, line[i] == 32 { i += 1 }
        }
        let time = (local - Int64(offset!)) * CivilTime.microsPerSecond + micros
        return LogRecord(time: time, host: host, program: eximProgram, message: line.dropFirst(i))
    }

    // MARK: - The part after the timestamp

    /// ` host program[pid]: message` starting at `from` (the host's first byte).
    private func syslogTail(_ line: Bytes, from: Int, time: Int64) -> LogRecord? {
        guard let hostEnd = line.index(of: 32, from: from), hostEnd > from else { return nil }
        let host = line.slice(from, hostEnd)
        let tagStart = hostEnd + 1
        // The tag ends at `[` (pid follows) or at `:`; it never contains a space.
        var i = tagStart
        var programEnd = -1
        while i < line.count {
            let b = line[i]
            if b == 91 { // [
                programEnd = i
                guard let close = line.index(of: 93, from: i) else { return nil }
                i = close + 1
                guard i < line.count, line[i] == 58 else { return nil }
                break
            }
            if b == 58 { programEnd = i; break }
            if b == 32 { return nil }
            i += 1
        }
        guard programEnd > tagStart, i < line.count else { return nil }
        var msgStart = i + 1
        if msgStart < line.count, line[msgStart] == 32 { msgStart += 1 }
        return LogRecord(time: time, host: host, program: line.slice(tagStart, programEnd), message: line.dropFirst(msgStart))
    }
}

private let eximProgramStorage = PinnedBytes(Array("exim".utf8))

/// The program name given to Exim mainlog lines.
nonisolated(unsafe) let eximProgram = eximProgramStorage.bytes
