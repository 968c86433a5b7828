/// Small scanners shared by the Postfix and Exim parsers: SMTP reply codes, enhanced status
/// codes, `host[ip]` pairs and the SMTP stage named in a failure text.
enum ReplyScanner {
    /// The first SMTP reply (`4xx`/`5xx`, followed by space, `-` or the end) that comes right
    /// after `": "`, with the enhanced status code that follows it if any.
    static func reply(in text: Bytes, from: Int = 0) -> (code: Int, dsn: String?, at: Int)? {
        var i = from
        while let colon = text.index(of: UInt8(ascii: ":"), from: i) {
            i = colon + 1
            guard i < text.count, text[i] == UInt8(ascii: " ") else { continue }
            let c = i + 1
            if let (code, dsn) = codeAt(text, c) { return (code, dsn, c) }
        }
        return nil
    }

    /// A reply code at exactly `c`, e.g. `421-4.7.0 ...`, `450 4.2.1 ...`, `451 Try again`.
    static func codeAt(_ text: Bytes, _ c: Int) -> (Int, String?)? {
        guard let code = text.decimal(at: c, digits: 3), code >= 200, code <= 599 else { return nil }
        let after = c + 3
        guard after == text.count || text[after] == UInt8(ascii: " ") || text[after] == UInt8(ascii: "-") else { return nil }
        return (code, enhancedCode(text, after + 1))
    }

    /// `x.y.z` at `i` (1-3 digit parts, first part 2, 4 or 5), or nil.
    static func enhancedCode(_ text: Bytes, _ i: Int) -> String? {
        guard i + 5 <= text.count, let cls = text.decimal(at: i, digits: 1), cls == 2 || cls == 4 || cls == 5,
              text[i + 1] == UInt8(ascii: ".") else { return nil }
        var j = i + 2
        var parts = 0
        var digits = 0
        while j < text.count {
            let b = text[j]
            if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") { digits += 1; if digits > 3 { return nil } }
            else if b == UInt8(ascii: ".") && digits > 0 && parts == 0 { parts = 1; digits = 0 }
            else { break }
            j += 1
        }
        guard parts == 1, digits > 0 else { return nil }
        if j < text.count, text[j] != UInt8(ascii: " "), text[j] != UInt8(ascii: ","), text[j] != UInt8(ascii: ";"), text[j] != UInt8(ascii: ")"), text[j] != UInt8(ascii: "]") { return nil }
        return text.slice(i, j).string
    }

    /// `host[ip]` or `host[ip]:port` starting at `i`: the host and the address.
    static func hostAndIP(_ text: Bytes, _ i: Int) -> (host: Bytes, ip: Bytes, end: Int)? {
        guard let open = text.index(of: UInt8(ascii: "["), from: i), let close = text.index(of: UInt8(ascii: "]"), from: open) else { return nil }
        let host = text.slice(i, open)
        // A host name has no spaces; reject when the bracket is far away.
        if host.index(of: UInt8(ascii: " ")) != nil { return nil }
        return (host, text.slice(open + 1, close), close + 1)
    }

    /// Exim style `host [ip]` starting at `i`.
    static func eximHostAndIP(_ text: Bytes, _ i: Int) -> (host: Bytes, ip: Bytes, end: Int)? {
        guard let sp = text.index(of: UInt8(ascii: " "), from: i), sp + 1 < text.count, text[sp + 1] == UInt8(ascii: "["),
              let close = text.index(of: UInt8(ascii: "]"), from: sp + 1) else {
            // `H=[1.2.3.4]` with no name
            if i < text.count, text[i] == UInt8(ascii: "["), let close = text.index(of: UInt8(ascii: "]"), from: i) {
                let ip = text.slice(i + 1, close)
                return (ip, ip, close + 1)
            }
            return nil
        }
        return (text.slice(i, sp), text.slice(sp + 2, close), close + 1)
    }

    /// The stage named by a Postfix `(in reply to X command)` or Exim `after X` phrase.
    static func stage(in text: Bytes) -> SMTPStage? {
        if let r = text.find("in reply to ") {
            let rest = text.dropFirst(r + 12)
            if rest.hasPrefix("RCPT") { return .rcpt }
            if rest.hasPrefix("end of DATA") { return .endOfData }
            if rest.hasPrefix("DATA") { return .data }
            if rest.hasPrefix("MAIL") { return .mail }
            if rest.hasPrefix("EHLO") || rest.hasPrefix("HELO") || rest.hasPrefix("LHLO") { return .helo }
            if rest.hasPrefix("STARTTLS") { return .helo }
            if rest.hasPrefix("message body") { return .data }
        }
        if text.find("refused to talk to me") != nil { return .greeting }
        if text.find("initial server greeting") != nil || text.find("initial connection") != nil { return .greeting }
        if let w = text.find("while sending ") {
            let rest = text.dropFirst(w + 14)
            if rest.hasPrefix("RCPT") { return .rcpt }
            if rest.hasPrefix("MAIL") { return .mail }
            if rest.hasPrefix("end of data") { return .endOfData }
            if rest.hasPrefix("message body") || rest.hasPrefix("DATA") { return .data }
        }
        if text.find("while performing the EHLO") != nil || text.find("while performing the HELO") != nil { return .helo }
        // Exim: "SMTP error from remote mail server after RCPT TO:<...>", "SMTP timeout after pipelined MAIL FROM".
        if let a = text.find("after ") {
            var rest = text.dropFirst(a + 6)
            if rest.hasPrefix("pipelined ") { rest = rest.dropFirst(10) }
            if rest.hasPrefix("RCPT") { return .rcpt }
            if rest.hasPrefix("MAIL") { return .mail }
            if rest.hasPrefix("end of data") { return .endOfData }
            if rest.hasPrefix("DATA") || rest.hasPrefix("sending data block") { return .data }
            if rest.hasPrefix("EHLO") || rest.hasPrefix("HELO") || rest.hasPrefix("LHLO") || rest.hasPrefix("STARTTLS") { return .helo }
            if rest.hasPrefix("initial connection") || rest.hasPrefix("greeting") { return .greeting }
        }
        if text.find("in response to pipelined RCPT") != nil { return .rcpt }
        if text.hasPrefix("connect to ") || text.hasPrefix("Connection refused") || text.hasPrefix("Connection timed out")
            || text.hasPrefix("No route to host") || text.hasPrefix("Network is unreachable") {
            return .connect
        }
        return nil
    }
}
