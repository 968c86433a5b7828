/// A reply text with what varies between two instances of the same reply masked, so texts
/// group by the receiver's template: `<address>` and bare addresses become `<ADDR>`, IPv4
/// and IPv6 addresses `<IP>`, host names `<HOST>`, `[bracketed]` parts `[...]`, ids and
/// numbers other than reply and enhanced codes `<N>`. Byte-level, one pass; the words stay as they are.
public enum ReplyTemplate {
    public static func mask(_ text: Substring, limit: Int = 400) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(min(text.utf8.count, limit + 16))
        let t = Array(text.utf8)
        var i = 0
        while i < t.count, out.count < limit {
            let b = t[i]
            // <user@example.org> is the address; [192.0.2.1] or [id] is what varies.
            if let end = Self.closing(t, from: i, open: UInt8(ascii: "<"), close: UInt8(ascii: ">"), within: 320)
                ?? Self.closing(t, from: i, open: UInt8(ascii: "["), close: UInt8(ascii: "]"), within: 160) {
                out += Array((b == UInt8(ascii: "<") ? "<ADDR>" : "[...]").utf8)
                i = end + 1
                continue
            }
            if isTokenByte(b) {
                var j = i
                while j < t.count, isTokenByte(t[j]) { j += 1 }
                // Trailing dots and colons end a sentence or a field, not the token.
                var end = j
                while end > i, t[end - 1] == UInt8(ascii: ".") || t[end - 1] == UInt8(ascii: ":") { end -= 1 }
                if end > i {
                    out += replacement(t[i..<end])
                    i = end
                    continue
                }
                // Only dots and colons: plain punctuation.
                out += t[i..<j]
                i = j
                continue
            }
            out.append(b)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The index of `close` ending the bracket that opens at `i`, within `within` bytes.
    private static func closing(_ t: [UInt8], from i: Int, open: UInt8, close: UInt8, within: Int) -> Int? {
        guard t[i] == open else { return nil }
        var j = i + 1
        while j < t.count, t[j] != close, j - i < within { j += 1 }
        return j < t.count && t[j] == close ? j : nil
    }

    /// Letters, digits and the bytes that hold an address, a host name or an id together.
    private static func isTokenByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: ".") || b == UInt8(ascii: "-")
            || b == UInt8(ascii: "_") || b == UInt8(ascii: "@") || b == UInt8(ascii: ":") || b == UInt8(ascii: "=")
            || b == UInt8(ascii: "/") || b == UInt8(ascii: "%") || b == UInt8(ascii: "+")
    }

    private static func replacement(_ tok: ArraySlice<UInt8>) -> [UInt8] {
        var digits = 0, letters = 0, dots = 0, colons = 0, at = false, slash = false, hexOnly = true
        for b in tok {
            if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") { digits += 1 }
            else if (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z") {
                letters += 1
                if (b | 0x20) > UInt8(ascii: "f") { hexOnly = false }
            } else if b == UInt8(ascii: ".") { dots += 1 }
            else if b == UInt8(ascii: ":") { colons += 1 }
            else if b == UInt8(ascii: "@") { at = true }
            else if b == UInt8(ascii: "/") { slash = true }
        }
        if slash && letters > 0 { return Array(tok) }            // a URL or a path: keep (it often names the fix)
        if at { return Array("<ADDR>".utf8) }
        if digits > 0 && letters == 0 && dots == 3 { return Array("<IP>".utf8) }
        if colons >= 2 && hexOnly && digits + letters >= 2 { return Array("<IP>".utf8) }
        if dots >= 1 && letters > 0 && tok.last.map({ $0 != UInt8(ascii: "-") }) == true
            && !tok.contains(UInt8(ascii: "=")) { return Array("<HOST>".utf8) }
        if digits > 0 {
            // Pure numbers, ids like 1wXab-000001-Zq or 9042357550, dsn-like 4.7.1 stay
            // recognisable: a reply code or an enhanced code is kept, other numbers masked.
            if isReplyOrEnhancedCode(tok) { return Array(tok) }
            return Array("<N>".utf8)
        }
        return Array(tok)
    }

    /// `421`, `4.7.28`, `421-4.7.28`: what a rule would match on.
    private static func isReplyOrEnhancedCode(_ tok: ArraySlice<UInt8>) -> Bool {
        let s = String(decoding: tok, as: UTF8.self)
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        func code(_ p: Substring) -> Bool { p.count == 3 && p.allSatisfy(\.isASCII) && p.allSatisfy(\.isNumber) && "245".contains(p.first!) }
        func enhanced(_ p: Substring) -> Bool {
            let d = p.split(separator: ".", omittingEmptySubsequences: false)
            return d.count == 3 && d.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy { $0.isASCII && $0.isNumber } }
                && "245".contains(d[0].first!)
        }
        if parts.count == 1 { return code(parts[0]) || enhanced(parts[0]) }
        if parts.count == 2 { return code(parts[0]) && (enhanced(parts[1]) || parts[1].isEmpty) }
        return false
    }
}
