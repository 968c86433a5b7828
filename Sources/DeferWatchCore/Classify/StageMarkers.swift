/// The words of a failure text that name the SMTP stage the failure happened at, not its
/// cause: Postfix's "(in reply to STARTTLS command)" at the end of "host H[ip] said: REPLY
/// (in reply to X command)", and Exim's "after RCPT TO:<a@b.example>:" in "SMTP error from
/// remote mail server after RCPT TO:<a@b.example>: REPLY" (also "SMTP timeout after X",
/// "LMTP error after X", "PRDR error after X" and dma's "failed after X:").
///
/// The classifier does not match needles in these spans: a cue such as "starttls" means the
/// reply, and the stage is the event's `stage`. Finding them is a few anchored comparisons
/// (the Postfix marker is the text's end; the Exim marker follows one of a few fixed
/// phrases), not a pass of its own over the text, and allocates nothing.
public struct StageMarkers: Sendable, Equatable {
    /// `[lo, hi)` byte ranges, in text order; an absent marker is an empty range.
    public var postfix: Range<Int> = 0..<0
    public var exim: Range<Int> = 0..<0

    public init() {}

    /// The markers present, in text order (for `classify --explain`).
    public var ranges: [Range<Int>] {
        [exim, postfix].filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
    }

    public var isEmpty: Bool { postfix.isEmpty && exim.isEmpty }

    public static func find(in t: Bytes) -> StageMarkers {
        var m = StageMarkers()
        m.postfix = postfixMarker(t)
        m.exim = eximMarker(t, before: m.postfix.isEmpty ? t.count : m.postfix.lowerBound)
        return m
    }

    /// "(in reply to X command)" closing the text (trailing spaces allowed).
    private static func postfixMarker(_ t: Bytes) -> Range<Int> {
        var end = t.count
        while end > 0 && (t[end - 1] == asciiSpace || t[end - 1] == asciiTab) { end -= 1 }
        let closing: StaticString = " command)"
        let opening: StaticString = "(in reply to "
        guard end >= closing.utf8CodeUnitCount + opening.utf8CodeUnitCount,
              t.matches(closing, at: end - closing.utf8CodeUnitCount) else { return 0..<0 }
        // The stage names ("RCPT TO", "end of DATA", "MAIL FROM") hold no "(": the last one is
        // the marker's, a few bytes back.
        var i = end - closing.utf8CodeUnitCount - 1
        let stop = max(0, end - 64)
        while i >= stop && t[i] != UInt8(ascii: "(") { i -= 1 }
        guard i >= stop, t.matches(opening, at: i) else { return 0..<0 }
        return i..<end
    }

    /// The phrases after which Exim (and dma) name the stage: "... after STAGE: REPLY".
    private static let eximLeads: [StaticString] = ["mail server ", "mailer ", "SMTP timeout ", "LMTP timeout ", "SMTP error ", "LMTP error ", "PRDR error ", "failed "]

    /// "after X:" (through the colon that ends the stage, or the end of the text) following
    /// one of `eximLeads`, X being an SMTP command or one of Exim's stage phrases.
    private static func eximMarker(_ t: Bytes, before limit: Int) -> Range<Int> {
        var from = 0
        while let a = t.find("after ", from: from), a < limit {
            from = a + 6
            guard eximLeads.contains(where: { t.matches($0, at: a - $0.utf8CodeUnitCount) }) else { continue }
            var s = a + 6
            if t.matches("pipelined ", at: s) { s += 10 }
            guard s < limit else { continue }
            let b = t[s]
            guard (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) || t.matches("end of data", at: s)
                    || t.matches("initial connection", at: s) || t.matches("sending data block", at: s) else { continue }
            // Through the first ": " after the stage (an address in it has no ": "), else the end.
            var j = s
            while j + 1 < limit, !(t[j] == UInt8(ascii: ":") && t[j + 1] == asciiSpace) { j += 1 }
            return a..<(j + 1 < limit ? j + 1 : limit)
        }
        return 0..<0
    }
}
