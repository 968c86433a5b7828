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
    /// Unique among the drafts of one run, ASCII, valid as a rule id.
    public var id: String

    /// Drafts from the unexplained texts of a report, most frequent first. `min` drops the
    /// templates seen fewer times.
    /// Templates that offer nothing to match (no words, no codes) are left out.
    public static func drafts(from unexplained: [UnexplainedText], min: Int = 1) -> [RuleSuggestion] {
        var ids: [String: Int] = [:]
        var out: [RuleSuggestion] = []
        for u in unexplained where u.count >= min {
            var code: Int?
            var dsn: String?
            var t = u.example
            t.withUTF8 { b in
                if let (c, d) = ReplyScanner.codeAt(b, 0) { code = c; dsn = d }
                else if let r = ReplyScanner.reply(in: b) { code = r.code; dsn = r.dsn }
            }
            let n = needle(of: u.shape)
            if n == nil && code == nil && dsn == nil { continue }
            var id = baseID(n ?? "reply-\(code.map(String.init) ?? dsn ?? "")")
            ids[id, default: 0] += 1
            if ids[id]! > 1 { id += "-\(ids[id]!)" }
            out.append(RuleSuggestion(template: u.shape, count: u.count, sample: u.example, needle: n, code: code, dsn: dsn, id: id))
        }
        return out
    }

    /// `site-` and the words, ASCII letters and digits only, at most 40 characters.
    static func baseID(_ words: String) -> String {
        var id = "site-"
        for b in words.utf8 {
            let c = b | 0x20
            if (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) {
                id.append(Character(Unicode.Scalar(b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") ? c : b)))
            } else if !id.hasSuffix("-") {
                id.append("-")
            }
            if id.count >= 40 { break }
        }
        while id.hasSuffix("-") { id.removeLast() }
        return id == "site" ? "site-reply" : id
    }

    /// The longest run of words the template keeps unmasked, without the MTA's framing
    /// ("host H[ip] said:", Exim's "...: host H [ip]:", "(in reply to ...)") and without
    /// reply codes: what a rule can match on in every instance of the template.
    static func needle(of template: String) -> String? {
        var t = Substring(template)
        // The reply starts at its code: what comes before is the MTA's framing (Postfix
        // "host H[ip] said:", Exim "SMTP error from remote mail server after RCPT TO:...:").
        let words = t.split(separator: " ")
        if let i = words.firstIndex(where: isReplyCode) {
            t = t[words[i].endIndex...]
            if let next = t.split(separator: " ").first, isEnhancedCode(next) { t = t[next.endIndex...] }
        } else {
            for frame in ["said: ", "refused to talk to me: ", "]: "] {
                if let r = t.firstRange(of: frame) { t = t[r.upperBound...] }
            }
        }
        if let r = t.firstRange(of: "(in reply to") { t = t[..<r.lowerBound] }
        var best = ""
        var run: [Substring] = []
        func close() {
            var s = run.joined(separator: " ")
            while let f = s.first, !f.isLetter { s.removeFirst() }
            while let l = s.last, !l.isLetter { s.removeLast() }
            if s.count > best.count { best = s }
            run = []
        }
        for word in t.split(separator: " ", omittingEmptySubsequences: false) {
            let masked = word.contains("<") || word.contains("[...]")
            let code = word.allSatisfy { $0.isNumber || $0 == "." || $0 == "-" }
            if masked || code { close() } else { run.append(word) }
        }
        close()
        guard best.count >= 6 else { return nil }
        return String(best.prefix(80)).asciiLowercased
    }

    /// `421`, `421-4.7.0`, `450-`: a reply code, possibly glued to its enhanced code.
    static func isReplyCode(_ w: Substring) -> Bool {
        let u = Array(w.utf8)
        guard u.count >= 3, u[0] == UInt8(ascii: "4") || u[0] == UInt8(ascii: "5"),
              u[1] >= UInt8(ascii: "0") && u[1] <= UInt8(ascii: "9"), u[2] >= UInt8(ascii: "0") && u[2] <= UInt8(ascii: "9") else { return false }
        return u.count == 3 || u[3] == UInt8(ascii: "-")
    }

    static func isEnhancedCode(_ w: Substring) -> Bool {
        let parts = w.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && parts.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
    }

    /// A `[[rule]]` table in the rules file format, with the cause left for the operator.
    public var toml: String {
        var s = "[[rule]]\n"
        s += "id = \(Self.quote(id))\n"
        s += "cause = \"other\"   # choose: \(Cause.allCases.filter { $0 != .other }.map(\.rawValue).joined(separator: ", "))\n"
        if let needle {
            s += "contains = [\(Self.quote(needle))]\n"
            if let code { s += "# codes = [\(code)]\(dsn.map { "\n# dsn = [\(Self.quote($0))]" } ?? "")   # narrow it further if the words are common\n" }
        } else {
            // No words every instance shares: only the codes, as a last-resort rule.
            s += "# no words to match: this matches every reply with these codes; narrow it before use\n"
            s += "layer = \"class\"\n"
            if let code { s += "codes = [\(code)]\n" }
            if let dsn { s += "dsn = [\(Self.quote(dsn))]\n" }
        }
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
