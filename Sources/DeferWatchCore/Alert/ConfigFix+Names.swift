/// The names a fix writes into a configuration: checked or built here, never taken as they
/// came in a log line.
extension ConfigFix {
    /// The prefix of every transport a fix adds: these transports send more gently.
    public static let transportPrefix = "slow_"

    /// The transport (Postfix master.cf service, Exim router and transport) for a provider
    /// or domain name: `slow_` and the name in lower case, every run of other characters
    /// than a-z and 0-9 made one `_` (`mail.example.co.uk` → `slow_mail_example_co_uk`).
    /// A name longer than 32 characters keeps its first 25 and a hash of the whole, so two
    /// long names stay apart. Valid in both MTAs: letters, digits and `_`, a letter first.
    public static func transportName(_ raw: String) -> String {
        var body: [UInt8] = []
        var gap = false
        for b in raw.utf8.prefix(1024) {
            let c = b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") ? b + 32 : b
            if (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) {
                if gap && !body.isEmpty { body.append(UInt8(ascii: "_")) }
                body.append(c)
                gap = false
            } else {
                gap = true
            }
        }
        if body.isEmpty { body = Array("destination".utf8) }
        if body.count > 32 || raw.utf8.count > 1024 {
            var h: UInt32 = 0x811c_9dc5
            for b in raw.utf8 { h = (h ^ UInt32(b)) &* 0x0100_0193 }
            let hex = String(h, radix: 16)
            body = Array(body.prefix(25)) + Array("_".utf8) + Array(String(repeating: "0", count: 8 - hex.count).utf8) + Array(hex.utf8)
        }
        return transportPrefix + String(decoding: body, as: UTF8.self)
    }

    /// The domain in lower case when it is a valid recipient domain on the Internet: 1 to
    /// 253 bytes, at least two labels of 1 to 63 letters, digits and inner hyphens (IDNs in
    /// their xn-- form), no trailing dot; nil for anything else (spaces, colons, quotes,
    /// newlines, address literals: what would break a transport table or a domain list).
    public static func validDomain(_ raw: String) -> String? {
        let bytes = Array(raw.utf8)
        guard !bytes.isEmpty, bytes.count <= 253 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var label = 0
        var labels = 1
        var last: UInt8 = 0
        var letters = false
        for b in bytes {
            let c = b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") ? b + 32 : b
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"):
                letters = true
                label += 1
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                label += 1
            case UInt8(ascii: "-"):
                guard label > 0 else { return nil }
                label += 1
            case UInt8(ascii: "."):
                guard label > 0, last != UInt8(ascii: "-") else { return nil }
                label = 0
                labels += 1
            default:
                return nil
            }
            guard label <= 63 else { return nil }
            last = c
            out.append(c)
        }
        guard label > 0, last != UInt8(ascii: "-"), labels >= 2, letters else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether a reply says the receiver wants fewer recipients per message: "too many
    /// recipients", or the enhanced status code 4.5.3 (RFC 3463: too many recipients).
    static func saysTooManyRecipients(_ sample: String) -> Bool {
        let text = Array(sample.utf8.prefix(Alert.sampleLimit + 8)).map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
        return contains(text, Array("too many recipients".utf8)) || contains(text, Array(" 4.5.3 ".utf8))
            || contains(text, Array("-4.5.3 ".utf8)) || contains(text, Array("dsn=4.5.3".utf8))
    }

    private static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        guard hay.count >= needle.count else { return false }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && hay[i..<i + needle.count].elementsEqual(needle) {
            return true
        }
        return false
    }
}
