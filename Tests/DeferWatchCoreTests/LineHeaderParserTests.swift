import DeferWatchCore
import DeferWatchTestSupport
import Testing

@Suite struct LineHeaderParserTests {
    func times(_ lines: [String], year: Int, month: Int) -> [String] {
        var p = LineHeaderParser(yearHint: year, monthHint: month)
        let host = Array("h".utf8)
        return lines.map { line in
            var copy = line
            return copy.withUTF8 { b in
                host.withUnsafeBufferPointer { hb in
                    p.parse(b, defaultHostBuffer: hb)?.time.map(CivilTime.rfc3339) ?? "nil"
                }
            }
        }
    }

    // A log that crosses New Year stays in order: the hint is the year the log ends in.
    @Test func yearAdvancesAcrossNewYear() {
        let t = times([
            "Dec 31 23:59:58 mx1 postfix/smtp[1]: x",
            "Jan  1 00:00:01 mx1 postfix/smtp[1]: x",
            // a second host a few seconds behind, still in the old year
            "Dec 31 23:59:59 mx2 postfix/smtp[1]: x",
            "Jan  1 00:00:02 mx1 postfix/smtp[1]: x",
        ], year: 2027, month: 1)
        #expect(t == ["2026-12-31T23:59:58Z", "2027-01-01T00:00:01Z", "2026-12-31T23:59:59Z", "2027-01-01T00:00:02Z"])
    }

    // A log from earlier in the hint's year keeps the hint's year; a month after the hint
    // month must be last year.
    @Test func yearFromHint() {
        #expect(times(["Mar  3 10:00:00 mx1 postfix/smtp[1]: x"], year: 2026, month: 11) == ["2026-03-03T10:00:00Z"])
        #expect(times(["Dec  3 10:00:00 mx1 postfix/smtp[1]: x"], year: 2026, month: 11) == ["2025-12-03T10:00:00Z"])
    }

    @Test func zoneForTimesWithoutOne() {
        var p = LineHeaderParser(yearHint: 2026, monthHint: 11, zone: FixedOffsetZone(seconds: 3600))
        var line = "Nov 28 10:00:00 mx1 postfix/smtp[1]: x"
        let host = Array("h".utf8)
        let t = line.withUTF8 { b in host.withUnsafeBufferPointer { p.parse(b, defaultHostBuffer: $0)?.time } }
        #expect(t.map(CivilTime.rfc3339) == "2026-11-28T09:00:00Z")
    }

    @Test func rejectsWhatIsNotATimestamp() {
        #expect(times([
            "Foo 28 10:00:00 mx1 postfix/smtp[1]: x",
            "Nov 32 10:00:00 mx1 postfix/smtp[1]: x",
            "Nov 28 25:00:00 mx1 postfix/smtp[1]: x",
            "2026-13-01T00:00:00Z mx1 postfix/smtp[1]: x",
            "Nov 28 10:00:00 mx1",
            "Nov 28 10:00:00 mx1 has spaces in tag: x",
            "",
        ], year: 2026, month: 11) == ["nil", "nil", "nil", "nil", "nil", "nil", "nil"])
    }

    @Test func civilTimeRoundTrips() {
        for days in stride(from: -800_000, to: 800_000, by: 997) {
            let (y, m, d) = CivilTime.civilFromDays(days)
            #expect(CivilTime.daysFromCivil(year: y, month: m, day: d) == days)
        }
        #expect(CivilTime.rfc3339(0) == "1970-01-01T00:00:00Z")
        #expect(CivilTime.rfc3339(1_764_324_000_000_123) == "2025-11-28T10:00:00.000123Z")
    }
}
