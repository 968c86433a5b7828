/// Reads Exim delivery lines from the mainlog or from syslog (with or without Exim's own
/// timestamp inside): `=>`/`->`/`>>` deliveries, `==` deferrals, `**` failures. Message ids
/// of both the old (6-6-2) and the 4.97+ (6-11-4) form. Never does I/O.
public struct EximParser {
    public init() {}

    public static func isExim(program: Bytes) -> Bool { program.hasPrefix("exim") }

    /// The message without the timestamp and pid Exim through syslog may keep inside it.
    @inline(__always)
    static func body(_ message: Bytes) -> Bytes {
        let m = message
        guard m.count > 20, m[4] == UInt8(ascii: "-"), m[7] == UInt8(ascii: "-"), m[10] == UInt8(ascii: " "), m[13] == UInt8(ascii: ":"), m.isDigit(at: 0) else { return m }
        var i = 19
        while i < m.count, m[i] != UInt8(ascii: " ") { i += 1 } // fraction / zone-less end
        i += 1
        if i + 5 < m.count, m[i] == UInt8(ascii: "+") || m[i] == UInt8(ascii: "-"), m.isDigit(at: i + 1), m.isDigit(at: i + 4), i + 5 < m.count, m[i + 5] == UInt8(ascii: " ") {
            i += 6
        }
        if i < m.count, m[i] == UInt8(ascii: "["), let close = m.index(of: UInt8(ascii: "]"), from: i) { i = close + 2 }
        return m.dropFirst(min(i, m.count))
    }

    /// - fields: which fields to make (strings nobody reads are not made).
    /// - relays: where relay names are made (and remembered, with their provider).
    /// `relayHint` is set to the relay's provider as `relays` found it (an index, -1: none;
    /// nil: not found by name, to be looked up), for the classifier.
    public func parse(_ record: LogRecord, host: String, fields keep: EventFields = .all, relays: inout RelayNames,
                      relayHint: inout Int32?) -> DeliveryEvent? {
        let m = Self.body(record.message)
        // Message id, flag, address.
        // 6-6-2 (16 bytes) before Exim 4.97, 6-11-4 (23 bytes) since.
        guard let idEnd = m.index(of: UInt8(ascii: " ")), idEnd >= 16, idEnd <= 23, m[6] == UInt8(ascii: "-"),
              m[idEnd - 3] == UInt8(ascii: "-") || m[idEnd - 5] == UInt8(ascii: "-"),
              idEnd + 4 <= m.count, m[idEnd + 3] == UInt8(ascii: " ") else { return nil }
        let f0 = m[idEnd + 1], f1 = m[idEnd + 2]
        let status: DeliveryStatus
        switch (f0, f1) {
        case (61, 62), (45, 62), (62, 62): status = .sent       // => -> >>
        case (61, 61): status = .deferred                      // ==
        case (42, 42): status = .bounced                       // **
        default: return nil
        }
        let rest = m.dropFirst(idEnd + 4)
        let addrEnd = rest.index(of: UInt8(ascii: " ")) ?? rest.count
        var addressBytes = rest.slice(0, addrEnd)
        if addressBytes.hasSuffix(":") { addressBytes = addressBytes.slice(0, addressBytes.count - 1) }
        var after = addrEnd
        // `=> alias <orig@domain>` / `=> /path (parent@domain) <orig@domain>`: prefer an email address.
        while after + 1 < rest.count, rest[after] == UInt8(ascii: " "), rest[after + 1] == UInt8(ascii: "<") || rest[after + 1] == UInt8(ascii: "(") {
            let close: UInt8 = rest[after + 1] == UInt8(ascii: "<") ? UInt8(ascii: ">") : UInt8(ascii: ")")
            guard let end = rest.index(of: close, from: after + 2) else { break }
            if addressBytes.index(of: UInt8(ascii: "@")) == nil {
                let inner = rest.slice(after + 2, end)
                if inner.index(of: UInt8(ascii: "@")) != nil { addressBytes = inner }
            }
            after = end + 1
        }
        let fields = rest.dropFirst(after)

        var relay: String?
        var relayProvider: Int32?
        var relayIP: String?
        var text = Bytes(start: nil, count: 0)
        var wantsInherited = false
        var statusOut = status

        if status == .sent {
            if let h = fields.find(" H=") {
                if let (host, ip, _) = ReplyScanner.eximHostAndIP(fields, h + 3) {
                    (relay, relayProvider) = relays.name(host)
                    relayIP = ip.string
                } else {
                    let end = fields.index(of: UInt8(ascii: " "), from: h + 3) ?? fields.count
                    (relay, relayProvider) = relays.name(fields.slice(h + 3, end))
                }
            }
            if let c = fields.find(" C=\"") {
                let end = fields.index(of: 34, from: c + 4) ?? fields.count
                text = fields.slice(c + 4, end)
            }
        } else {
            var textStart: Int?
            if let d = fields.find("defer (") ?? fields.find("error ("), let close = fields.index(of: UInt8(ascii: ")"), from: d) {
                var i = close + 1
                if i + 3 < fields.count, fields[i] == UInt8(ascii: " "), fields.matches("H=", at: i + 1) {
                    if let (host, ip, end) = ReplyScanner.eximHostAndIP(fields, i + 3) {
                        (relay, relayProvider) = relays.name(host)
                        relayIP = ip.string
                        i = end
                    }
                }
                if let colon = fields.find(": ", from: i) { textStart = colon + 2 }
            } else {
                // `** addr R=... T=... H=host [ip]: text` or `** addr: retry timeout exceeded`
                if let h = fields.find(" H="), let (host, ip, _) = ReplyScanner.eximHostAndIP(fields, h + 3) {
                    (relay, relayProvider) = relays.name(host)
                    relayIP = ip.string
                }
                if let colon = fields.find(": ") {
                    textStart = colon + 2
                } else if addrEnd > 0, rest[addrEnd - 1] == UInt8(ascii: ":") {
                    text = fields.trimmed()
                }
            }
            if let t = textStart { text = fields.dropFirst(t) }
            if relay == nil {
                // Older Exims name the host inside the text: "...: host mx.example [1.2.3.4]: 450 ..."
                // and "SMTP timeout while connected to mx.example [1.2.3.4] after ...".
                if let h = text.find(": host ") ?? text.find("H="), let (host, ip, _) = ReplyScanner.eximHostAndIP(text, text[h] == UInt8(ascii: ":") ? h + 7 : h + 2) {
                    (relay, relayProvider) = relays.name(host)
                    relayIP = ip.string
                } else if let c = text.find("connected to "), let (host, ip, _) = ReplyScanner.eximHostAndIP(text, c + 13) {
                    (relay, relayProvider) = relays.name(host)
                    relayIP = ip.string
                }
            }
            // "retry time not reached [for any host]", routing's "Retry time not yet reached".
            if text.find("etry time not reached") != nil || text.find("etry time not yet reached") != nil {
                wantsInherited = true
            } else if status == .bounced && text.find("retry timeout exceeded") != nil {
                statusOut = .expired
                wantsInherited = true
            }
        }

        var code: Int?
        var dsn: String?
        var stage: SMTPStage?
        if status != .sent {
            if let r = ReplyScanner.reply(in: text) {
                code = r.code
                dsn = r.dsn
            }
            stage = ReplyScanner.stage(in: text)
        } else if let (c, d) = ReplyScanner.codeAt(text, 0) {
            code = c
            dsn = d
        }
        let textString = keep.keepsText(statusOut) ? Self.oneLine(text) : ""
        var event = DeliveryEvent(
            time: record.time, mta: .exim, host: host, queueID: m.slice(0, idEnd).string,
            recipient: keep.keepsRecipient(statusOut) ? addressBytes.string : nil, domain: PostfixParser.domain(ofBytes: addressBytes), status: statusOut,
            relay: relay, relayIP: relayIP, dsn: dsn, code: code, stage: stage, text: textString,
            wantsInheritedCause: wantsInherited)
        if statusOut != .sent { event.arrival = Self.arrival(id: m) }
        relayHint = relayProvider
        return event
    }

    /// The arrival time in an Exim message id: its first six characters, base 62 seconds.
    static func arrival(id m: Bytes) -> Int64? {
        guard m.count >= 6 else { return nil }
        var v: Int64 = 0
        for i in 0..<6 {
            let b = m[i]
            let d: Int64
            switch b {
            case 48...57: d = Int64(b - 48)
            case 65...90: d = Int64(b - 55)
            case 97...122: d = Int64(b - 61)
            default: return nil
            }
            v = v * 62 + d
        }
        return v * TrackerConfig.second
    }

    /// Exim joins the lines of a multi-line reply with a literal `\n`; deferwatch reports one
    /// line, with a space where the line breaks were, as Postfix does.
    static func oneLine(_ text: Bytes) -> String {
        guard text.find("\\n") != nil else { return text.string }
        var out = [UInt8]()
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            if text[i] == UInt8(ascii: "\\"), i + 1 < text.count, text[i + 1] == UInt8(ascii: "n") {
                out.append(32)
                i += 2
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
