/// A draft rule for a group of deferral texts that no rule explains (`deferwatch rules
/// suggest`): the template the texts share, how often it occurred, one sample, and a
/// `[[rule]]` the operator can paste into a rules file once the cause is chosen.
public struct RuleSuggestion: Sendable, Equatable {
    public var template: String
    public var count: Int
    public var sample: String
    /// The needle of the draft: the longest run of words the template keeps unmasked.
    public var needle: String?
    public var code: Int?
    public var dsn: String?

    /// Drafts from the unexplained texts of a report, most frequent first. `min` drops the
    /// templates seen fewer times.
    public static func drafts(from unexplained: [UnexplainedText], min: Int = 1) -> [RuleSuggestion] {
        unexplained.filter { $0.count >= min }.map { u in
            var code: Int?
            var dsn: String?
            var t = u.example
            t.withUTF8 { b in
                if let (c, d) = ReplyScanner.codeAt(b, 0) { code = c; dsn = d }
                else if let r = ReplyScanner.reply(in: b) { code = r.code; dsn = r.dsn }
                if dsn == nil, let i = b.find("4."), let d = ReplyScanner.enhancedCode(b, i) { dsn = d }
            }
            return RuleSuggestion(template: u.shape, count: u.count, sample: u.example,
                                  needle: needle(of: u.shape), code: code, dsn: dsn)
        }
    }

    /// The longest run of words the template keeps unmasked, without the MTA's framing
    /// ("host H[ip] said:", Exim's "...: host H [ip]:", "(in reply to ...)") and without
    /// reply codes: what a rule can match on in every instance of the template.
    static func needle(of template: String) -> String? {
        var t = Substring(template)
        for frame in ["said: ", "refused to talk to me: ", "]: "] {
            if let r = t.range(of: frame) { t = t[r.upperBound...] }
        }
        if let r = t.range(of: "(in reply to") { t = t[..<r.lowerBound] }
        var best = ""
        var run: [Substring] = []
        func close() {
            var s = run.joined(separator: " ")
            while let f = s.first, !f.isLetter { s.removeFirst() }
            while let l = s.last, !l.isLetter { s.removeLast() }
            if s.count > best.count { best = s }
            run = []
        }
        for word in t.split(separator: " ") {
            let masked = word.contains("<") || word.contains("[...]")
            let code = word.allSatisfy { $0.isNumber || $0 == "." || $0 == "-" }
            if masked || code { close() } else { run.append(word) }
        }
        close()
        guard best.count >= 6 else { return nil }
        return String(best.prefix(80)).lowercased()
    }

    /// A `[[rule]]` table in the rules file format, with the cause left for the operator.
    public var toml: String {
        var id = "site-" + (needle ?? "reply").lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
            .reduce(into: "") { s, c in if !(c == "-" && s.hasSuffix("-")) { s.append(c) } }
        while id.hasSuffix("-") { id.removeLast() }
        if id.count > 40 { id = String(id.prefix(40)); while id.hasSuffix("-") { id.removeLast() } }
        var s = "[[rule]]\n"
        s += "id = \(Self.quote(id))\n"
        s += "cause = \"other\"   # choose: \(Cause.allCases.filter { $0 != .other }.map(\.rawValue).joined(separator: ", "))\n"
        if let needle {
            s += "contains = [\(Self.quote(needle))]\n"
        } else if let dsn {
            s += "dsn = [\(Self.quote(dsn))]\n"
        }
        if let code, needle != nil { s += "# codes = [\(code)]\(dsn.map { "\n# dsn = [\(Self.quote($0))]" } ?? "")   # narrow it further if the words are common\n" }
        s += "note = \(Self.quote("seen \(count)x: \(String(sample.prefix(120)))"))\n"
        return s
    }

    static func quote(_ s: String) -> String {
        var o = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            case "\t": o += "\\t"
            default:
                if c.value < 0x20 || c.value == 0x7f {
                    let h = String(c.value, radix: 16)
                    o += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    o.unicodeScalars.append(c)
                }
            }
        }
        return o + "\""
    }
}
