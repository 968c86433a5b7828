/// Which mechanism of an SPF policy decided a result. libspf2 evaluates and gives the
/// result, not the mechanism: this walks the same records again (through the same, caching,
/// resolver) the way RFC 7208 section 4.6 does, and names the first mechanism that matches
/// (`ip4:203.0.113.0/24 of example.org`, `-all of example.org`, `include:_spf.example.net ->
/// ip4:198.51.100.0/24`). It gives up (nil) on what it does not follow: macros, `ptr`, an
/// unanswered lookup, more than 10 levels; and the finding names a mechanism only when the
/// walk reaches the result libspf2 gave.
public struct SPFMechanismFinder {
    public let resolver: any DNSResolver

    public init(resolver: any DNSResolver) { self.resolver = resolver }

    /// The result and the deciding mechanism for `ip` under `domain`'s policy, or nil.
    public func decide(_ domain: String, ip: IPAddress) -> (result: SPFResult, mechanism: String)? {
        walk(domain, ip, depth: 0)
    }

    private func record(_ domain: String) -> [Substring]? {
        guard case .records(let rs) = resolver.query(domain, .txt) else { return nil }
        let spf = rs.map(\.value).filter { $0.lowercased() == "v=spf1" || $0.lowercased().hasPrefix("v=spf1 ") }
        guard spf.count == 1 else { return nil }
        return spf[0].split(separator: " ").dropFirst().map { $0 }
    }

    private func walk(_ domain: String, _ ip: IPAddress, depth: Int) -> (result: SPFResult, mechanism: String)? {
        guard depth < 10, let terms = record(domain) else { return nil }
        var redirect: String?
        for raw in terms {
            var term = raw
            let lower = term.lowercased()
            if lower.hasPrefix("redirect=") {
                redirect = String(term.dropFirst(9))
                continue
            }
            if term.contains("=") { continue } // another modifier (exp=)
            var result = SPFResult.pass
            if let q = term.first, "+-~?".contains(q) {
                result = q == "-" ? .fail : q == "~" ? .softfail : q == "?" ? .neutral : .pass
                term = term.dropFirst()
            }
            if term.contains("%") { return nil }
            let name = term.prefix { $0 != ":" && $0 != "/" }.lowercased()
            var rest = term.dropFirst(name.count)
            var target = domain
            if rest.first == ":" {
                rest = rest.dropFirst()
                let spec = rest.prefix { $0 != "/" }
                target = String(spec)
                rest = rest.dropFirst(spec.count)
            }
            let (v4, v6) = Self.cidrs(rest)
            let described = "\(raw) of \(domain)"
            switch name {
            case "all":
                return (result, described)
            case "ip4", "ip6":
                guard let net = IPAddress(target) else { return nil }
                let prefix = net.isIPv4 ? (name == "ip4" ? (v4 ?? 32) : 32) : (v6 ?? v4 ?? 128)
                if net.isIPv4 == ip.isIPv4, ip.within(net, prefix: prefix) { return (result, described) }
            case "a":
                guard let found = addresses(target, ip) else { return nil }
                if found.contains(where: { ip.within($0, prefix: ip.isIPv4 ? (v4 ?? 32) : (v6 ?? 128)) }) { return (result, described) }
            case "mx":
                let mx = resolver.query(target, .mx)
                if mx.isFailure { return nil }
                for r in mx.records.prefix(10) {
                    let host = String(r.value.split(separator: " ").last ?? "")
                    guard let found = addresses(host, ip) else { return nil }
                    if found.contains(where: { ip.within($0, prefix: ip.isIPv4 ? (v4 ?? 32) : (v6 ?? 128)) }) { return (result, described) }
                }
            case "include":
                guard let inner = walk(target, ip, depth: depth + 1) else { return nil }
                if inner.result == .pass { return (result, "\(raw) of \(domain) -> \(inner.mechanism)") }
            case "exists":
                let a = resolver.query(target, .a)
                if a.isFailure { return nil }
                if !a.records.isEmpty { return (result, described) }
            default:
                return nil // ptr, unknown mechanisms
            }
        }
        if let redirect {
            guard !redirect.contains("%"), let inner = walk(redirect, ip, depth: depth + 1) else { return nil }
            return (inner.result, "redirect=\(redirect) of \(domain) -> \(inner.mechanism)")
        }
        return (.neutral, "no mechanism of \(domain) matched and it has no all (neutral)")
    }

    private func addresses(_ name: String, _ ip: IPAddress) -> [IPAddress]? {
        let answer = resolver.query(name, ip.isIPv4 ? .a : .aaaa)
        if answer.isFailure { return nil }
        return answer.records.compactMap { IPAddress($0.value) }
    }

    /// `/24`, `//64` or `/24//64` after a mechanism.
    static func cidrs(_ s: Substring) -> (Int?, Int?) {
        var v4: Int?, v6: Int?
        if s.hasPrefix("//") { v6 = Int(s.dropFirst(2)) } else if s.hasPrefix("/") {
            let body = Array(s.dropFirst())
            var cut = body.count
            for i in body.indices.dropLast() where body[i] == "/" && body[i + 1] == "/" {
                cut = i
                break
            }
            v4 = Int(String(body[0..<cut]))
            if cut + 2 <= body.count, cut < body.count { v6 = Int(String(body[(cut + 2)...])) }
        }
        return (v4.map { min(max($0, 0), 32) }, v6.map { min(max($0, 0), 128) })
    }
}

extension IPAddress {
    /// Whether the address is in `net`/`prefix` (both of one family).
    public func within(_ net: IPAddress, prefix: Int) -> Bool {
        guard net.bytes.count == bytes.count else { return false }
        var bits = min(max(prefix, 0), bytes.count * 8)
        var i = 0
        while bits >= 8 {
            if bytes[i] != net.bytes[i] { return false }
            bits -= 8
            i += 1
        }
        if bits == 0 { return true }
        let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
        return bytes[i] & mask == net.bytes[i] & mask
    }
}
