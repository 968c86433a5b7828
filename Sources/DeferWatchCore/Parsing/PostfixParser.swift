/// Reads Postfix delivery lines: `QUEUEID: to=<rcpt>, relay=..., dsn=..., status=... (text)`
/// from any delivery agent (smtp, lmtp, error, retry, local, virtual, pipe, custom
/// multi-instance names) and qmgr's `status=expired` lines. Never does I/O.
public struct PostfixParser {
    public init() {}

    /// Whether a syslog program name is Postfix: `postfix/...`, `postfix-out/...`, or any
    /// `name/service` whose last part is a Postfix service (custom `syslog_name`).
    public static func isPostfix(program: Bytes) -> Bool {
        if program.hasPrefix("postfix") { return true }
        guard let slash = program.lastIndex(of: UInt8(ascii: "/")) else { return false }
        let service = program.dropFirst(slash + 1)
        for s in postfixServices where service.equals(s) { return true }
        return false
    }

    private static let postfixServices: [StaticString] = [
        "smtp", "lmtp", "error", "retry", "qmgr", "bounce", "local", "virtual", "pipe", "discard",
        "smtpd", "cleanup", "pickup", "postscreen", "anvil", "scache", "tlsmgr", "trivial-rewrite",
    ]

    /// The delivery event on this line, or nil when the line is not a delivery attempt.
    /// - fields: which fields to make (strings nobody reads are not made).
    /// - relays: where relay names are made (and remembered, with their provider).
    /// `relayHint` is set to the relay's provider as `relays` found it (an index, -1: none;
    /// nil: not found by name, to be looked up), for the classifier.
    public func parse(_ record: LogRecord, host: String, fields keep: EventFields = .all, relays: inout RelayNames,
                      relayHint: inout Int32?) -> DeliveryEvent? {
        let m = record.message
        // Cheap rejection: every delivery line carries ", status=" (qmgr: "status=expired").
        guard let statusAt = m.find("status=") else { return nil }
        guard let qidEnd = m.index(of: UInt8(ascii: ":")), qidEnd >= 5, qidEnd <= 20, qidEnd + 2 < m.count, m[qidEnd + 1] == UInt8(ascii: " ") else { return nil }
        for i in 0..<qidEnd {
            let b = m[i]
            guard (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) else { return nil }
        }
        // Status word.
        var s = statusAt + 7
        var statusEnd = s
        while statusEnd < m.count, m[statusEnd] != UInt8(ascii: " "), m[statusEnd] != UInt8(ascii: ",") { statusEnd += 1 }
        let word = m.slice(s, statusEnd)
        let status: DeliveryStatus
        if word.equals("deferred") { status = .deferred }
        else if word.equals("sent") { status = .sent }
        else if word.equals("bounced") { status = .bounced }
        else if word.equals("expired") { status = .expired }
        else { return nil }
        s = statusEnd

        let fields = m.slice(qidEnd + 2, statusAt)
        var recipientBytes: Bytes?
        if fields.hasPrefix("to=<"), let close = fields.index(of: UInt8(ascii: ">"), from: 4) {
            recipientBytes = fields.slice(4, close)
        } else if status == .expired, fields.hasPrefix("from=<") {
            recipientBytes = nil // qmgr: the whole message expired
        } else {
            return nil
        }

        var relay: String?
        var relayProvider: Int32?
        var relayIP: String?
        if let r = fields.find("relay=") {
            let start = r + 6
            let end = fields.index(of: 44, from: start) ?? fields.count
            let value = fields.slice(start, end)
            if !value.equals("none") {
                if let (h, ip, _) = ReplyScanner.hostAndIP(value, 0) {
                    (relay, relayProvider) = relays.name(h)
                    relayIP = ip.string
                } else {
                    relay = value.string
                }
            }
        }
        var dsn: String?
        if let d = fields.find("dsn=") {
            let end = fields.index(of: 44, from: d + 4) ?? fields.count
            dsn = fields.slice(d + 4, end).string
        }

        // Text: `(...)` after the status word, up to the last `)`.
        var textBytes = Bytes(start: nil, count: 0)
        if s + 1 < m.count, m[s] == UInt8(ascii: " "), m[s + 1] == UInt8(ascii: "("), let close = m.lastIndex(of: UInt8(ascii: ")")), close > s + 1 {
            textBytes = m.slice(s + 2, close)
        } else if s + 2 < m.count, m[s] == UInt8(ascii: ",") {
            textBytes = m.slice(s + 2, m.count).trimmed() // "status=expired, returned to sender"
        }
        var reasonBytes = textBytes
        if textBytes.hasPrefix("delivery temporarily suspended: ") {
            reasonBytes = textBytes.dropFirst(32)
        }

        var code: Int?
        var stage: SMTPStage?
        if status == .sent {
            code = ReplyScanner.codeAt(textBytes, 0)?.0
        } else {
            // "host H[ip] said: 421 ...", "host H[ip] refused to talk to me: 421 ..."
            if let said = reasonBytes.find(" said: ") {
                code = ReplyScanner.codeAt(reasonBytes, said + 7)?.0
            } else if let r = reasonBytes.find("refused to talk to me: ") {
                code = ReplyScanner.codeAt(reasonBytes, r + 23)?.0
            }
            stage = ReplyScanner.stage(in: reasonBytes)
            if relay == nil, let (h, ip) = relayFromText(reasonBytes) {
                relay = h
                relayIP = ip
            }
        }

        let recipient = keep.keepsRecipient(status) ? recipientBytes?.string : nil
        let domain = recipientBytes.flatMap(Self.domain(ofBytes:))
        let text = keep.keepsText(status) ? textBytes.string : ""
        // Repaired invalid UTF-8 changes byte offsets: then classify the whole text.
        let reasonStart = text.utf8.count == textBytes.count ? textBytes.count - reasonBytes.count : 0
        var event = DeliveryEvent(
            time: record.time, mta: .postfix, host: host, queueID: m.slice(0, qidEnd).string,
            recipient: recipient, domain: domain, status: status, relay: relay, relayIP: relayIP,
            dsn: dsn, code: code, stage: stage, text: text, reasonStart: reasonStart,
            wantsInheritedCause: status == .expired)
        if status != .sent, let t = record.time, let d = fields.find("delay="), let delay = Self.seconds(fields, from: d + 6) {
            event.arrival = t &- delay
        }
        // A relay found in the text (below) has no hint: looked up the usual way.
        relayHint = relayProvider
        return event
    }

    /// `delay=`'s value in microseconds (`434284`, `0.19`), or nil past a year or unreadable.
    static func seconds(_ b: Bytes, from start: Int) -> Int64? {
        var i = start
        var whole: Int64 = 0
        while i < b.count, b.isDigit(at: i), i - start < 9 {
            whole = whole * 10 + Int64(b[i] - 48)
            i += 1
        }
        guard i > start else { return nil }
        var micros: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            var scale: Int64 = 100_000
            i += 1
            while i < b.count, b.isDigit(at: i), scale > 0 {
                micros += Int64(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
        }
        return whole * TrackerConfig.second + micros
    }

    /// The remote host named in a connection-level failure text.
    private func relayFromText(_ t: Bytes) -> (host: String, ip: String)? {
        for prefix: StaticString in ["connect to ", "lost connection with ", "conversation with ", "host "] {
            if t.hasPrefix(prefix), let (h, ip, _) = ReplyScanner.hostAndIP(t, prefix.utf8CodeUnitCount) {
                return (h.lowercasedString, ip.string)
            }
        }
        return nil
    }

    /// The lower-cased part after the last `@`, or nil.
    /// `domain(of:)` on the address's bytes, before a String is made of it.
    static func domain(ofBytes b: Bytes) -> String? {
        guard let at = b.lastIndex(of: UInt8(ascii: "@")), at + 1 < b.count else { return nil }
        return b.slice(at + 1, b.count).lowercasedString
    }

    static func domain(of address: String) -> String? {
        var a = address
        return a.withUTF8 { b in
            guard let at = b.lastIndex(of: UInt8(ascii: "@")), at + 1 < b.count else { return nil }
            return b.slice(at + 1, b.count).lowercasedString
        }
    }
}
