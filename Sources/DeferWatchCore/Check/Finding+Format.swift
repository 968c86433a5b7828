extension Finding {
    /// The finding as `deferwatch check` prints it: the verdict, the check, the subject and
    /// what was found on one line; the records seen and the fix indented below.
    public var text: String {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
        var s = pad(verdict.rawValue, 8) + pad(check, 12) + pad(subject, 16) + summary + "\n"
        for e in evidence { s += "        seen: \(e)\n" }
        if let fix { s += "        fix:  \(fix)\n" }
        return s
    }

    /// One JSON object: check, subject, verdict, summary, evidence, fix, short.
    public func writeJSON(to w: JSONWriter) {
        w.beginObject()
        w.key("check"); w.string(check)
        w.key("subject"); w.string(subject)
        w.key("verdict"); w.string(verdict.rawValue)
        w.key("summary"); w.string(summary)
        w.key("evidence")
        w.beginArray()
        for e in evidence { w.string(e) }
        w.endArray()
        w.key("fix"); w.string(fix)
        w.key("short"); w.string(short)
        w.endObject()
    }
}

extension Array where Element == Finding {
    /// The short form for an alert line: `ptr=missing spf=softfail`, problems first.
    public var shortForm: String {
        sorted { $0.verdict > $1.verdict }.map(\.short).joined(separator: " ")
    }
}
