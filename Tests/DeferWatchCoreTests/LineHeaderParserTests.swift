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

    // Two stray lines (a host whose clock said April, then September) in a November log
    // must not push the November lines that follow into the next year.
    @Test func strayLinesDoNotMoveTheYear() {
        let t = times([
            "Nov 20 10:00:00 mx1 postfix/smtp[1]: x",
            "Apr  3 10:00:00 mx1 postfix/smtp[1]: x",
            "Sep  5 10:00:00 mx1 postfix/smtp[1]: x",
            "Nov 21 10:00:00 mx1 postfix/smtp[1]: x",
        ], year: 2026, month: 11)
        #expect(t == ["2026-11-20T10:00:00Z", "2026-04-03T10:00:00Z", "2026-09-05T10:00:00Z", "2026-11-21T10:00:00Z"])
    }

    // A file cycling through the months again and again (hostile, or years of logs in one
    // file) never traps and never leaves the year before the hint's.
    @Test func cyclingMonthsNeverTrapOrDrift() {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var lines: [String] = []
        for i in 0..<60_000 { lines.append("\(months[i % 12]) 1\(i % 10) 10:00:00 mx1 postfix/smtp[1]: x") }
        let years = Set(times(lines, year: 2026, month: 6).map { String($0.prefix(4)) })
        #expect(years.isSubset(of: ["2025", "2026"]), "\(years)")
    }

    // The year of a line depends on the line and the hint only, not on the lines before it:
    // reading a file from any point (as the parallel reader does) gives the same times.
    @Test func aLinesYearDoesNotDependOnTheLinesBeforeIt() {
        let lines = [
            "Dec 30 23:00:00 mx1 postfix/smtp[1]: x",
            "Jan  1 00:00:05 mx1 postfix/smtp[1]: x",
            "Dec 31 23:59:59 mx2 postfix/smtp[1]: x",
            "Mar  2 10:00:00 mx1 postfix/smtp[1]: x",
            "Jan  2 10:00:00 mx1 postfix/smtp[1]: x",
        ]
        let whole = times(lines, year: 2027, month: 1)
        for k in 1..<lines.count {
            #expect(Array(whole[k...]) == times(Array(lines[k...]), year: 2027, month: 1), "from line \(k)")
        }
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
