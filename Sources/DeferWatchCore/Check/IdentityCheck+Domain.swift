extension IdentityChecker {
    // MARK: - MX and A

    /// A sender domain should be able to receive (bounces, replies): MX records, or at least
    /// an address (RFC 5321's implicit MX). A null MX (RFC 7505) says it takes no mail, and
    /// some receivers refuse mail from such a domain.
    public func mail(_ domain: String) -> Finding {
        let mx = resolver.query(domain, .mx)
        var evidence = mx.describe(domain, .mx)
        switch mx {
        case .failed:
            return Finding(check: "mx", subject: domain, verdict: .unknown, summary: "the MX lookup got no answer", evidence: evidence, short: "mx=unknown")
        case .records(let rs):
            if rs.count == 1, rs[0].value.split(separator: " ").last == "." {
                return Finding(check: "mx", subject: domain, verdict: .problem, summary: "\(domain) has a null MX: it declares that it takes no mail",
                               evidence: evidence, fix: "send from a domain that receives mail, or give \(domain) real MX records (replies and bounces come back to it)",
                               short: "mx=null")
            }
            return Finding(check: "mx", subject: domain, verdict: .ok, summary: "\(domain) has MX records", evidence: evidence, short: "mx=ok")
        case .nxdomain:
            return Finding(check: "mx", subject: domain, verdict: .problem, summary: "\(domain) does not exist in DNS", evidence: evidence,
                           fix: "send from a registered domain: receivers refuse a sender domain that does not exist", short: "mx=nxdomain")
        case .noData:
            guard let (found, seen) = addresses(of: domain) else {
                return Finding(check: "mx", subject: domain, verdict: .unknown, summary: "no MX, and the address lookup got no answer",
                               evidence: evidence, short: "mx=unknown")
            }
            evidence += seen
            if found.isEmpty {
                return Finding(check: "mx", subject: domain, verdict: .problem, summary: "\(domain) has neither MX nor A/AAAA records: it cannot receive replies or bounces",
                               evidence: evidence, fix: "give \(domain) an MX record; some receivers defer or refuse mail from a domain that cannot receive",
                               short: "mx=none")
            }
            return Finding(check: "mx", subject: domain, verdict: .ok, summary: "\(domain) has no MX but an address (mail goes to it)", evidence: evidence, short: "mx=a-only")
        }
    }

    // MARK: - DMARC

    /// The organisational domain DMARC falls back to: the registered domain. Without the
    /// public suffix list, a heuristic: the last two labels, or three when the second-level
    /// label is a short one under a country code (`example.co.uk`, `example.com.au`).
    public static func organisationalDomain(_ domain: String) -> String {
        let labels = domain.lowercased().split(separator: ".")
        guard labels.count > 2 else { return labels.joined(separator: ".") }
        let tld = labels[labels.count - 1], second = labels[labels.count - 2]
        let keep = tld.count == 2 && second.count <= 3 ? 3 : 2
        return labels.suffix(keep).joined(separator: ".")
    }

    /// The DMARC record of a sender domain (`_dmarc.` of it, else of its organisational
    /// domain): present, its policy and alignment modes.
    /// `envelope`: the envelope sender domains seen (the logs' `from=`, Exim `<=`), to say
    /// whether SPF can align with the domain under its alignment mode.
    public func dmarc(_ domain: String, envelope: [String] = []) -> Finding {
        var evidence: [String] = []
        var names = ["_dmarc." + domain]
        let org = Self.organisationalDomain(domain)
        if org != domain.lowercased() { names.append("_dmarc." + org) }
        for name in names {
            let answer = resolver.query(name, .txt)
            evidence += answer.describe(name, .txt)
            if case .failed = answer {
                return Finding(check: "dmarc", subject: domain, verdict: .unknown, summary: "the DMARC lookup got no answer", evidence: evidence, short: "dmarc=unknown")
            }
            let records = answer.records.map(\.value).filter { $0.lowercased().hasPrefix("v=dmarc1") }
            if records.count > 1 {
                return Finding(check: "dmarc", subject: domain, verdict: .problem, summary: "\(name) has \(records.count) DMARC records; receivers then apply none",
                               evidence: evidence, fix: "keep one v=DMARC1 record at \(name)", short: "dmarc=multiple")
            }
            guard let record = records.first else { continue }
            let tags = Self.tags(record)
            guard let p = tags["p"], ["none", "quarantine", "reject"].contains(p.lowercased()) else {
                return Finding(check: "dmarc", subject: domain, verdict: .problem, summary: "the DMARC record at \(name) has no valid p= policy",
                               evidence: evidence, fix: "write the record as v=DMARC1; p=none (or quarantine, reject); rua=mailto:...", short: "dmarc=invalid")
            }
            let aspf = tags["aspf"]?.lowercased() == "s" ? "strict" : "relaxed"
            let adkim = tags["adkim"]?.lowercased() == "s" ? "strict" : "relaxed"
            let from = name == names[0] ? "" : " (of the organisational domain \(org))"
            return Finding(check: "dmarc", subject: domain, verdict: .ok,
                           summary: "DMARC policy \(p.lowercased())\(from), SPF alignment \(aspf), DKIM alignment \(adkim)"
                               + Self.spfAlignment(domain, envelope: envelope, strict: aspf == "strict"),
                           evidence: evidence, short: "dmarc=\(p.lowercased())")
        }
        return Finding(check: "dmarc", subject: domain, verdict: .problem, summary: "\(domain) has no DMARC record",
                       evidence: evidence,
                       fix: "publish a TXT record at _dmarc.\(org): v=DMARC1; p=none; rua=mailto:dmarc@\(org) (Gmail and Yahoo require one of bulk senders)",
                       short: "dmarc=none")
    }

    /// Whether SPF can align for mail From `domain` with the envelope domains seen: strict
    /// wants the same domain, relaxed the same organisational domain (RFC 7489 3.1.2).
    static func spfAlignment(_ domain: String, envelope: [String], strict: Bool) -> String {
        let d = domain.lowercased()
        let seen = Array(Set(envelope.map { $0.lowercased() })).sorted()
        guard !seen.isEmpty else { return "" }
        let aligned = seen.filter { strict ? $0 == d : organisationalDomain($0) == organisationalDomain(d) }
        if aligned.isEmpty {
            return "; SPF cannot align with the envelope domains seen (\(seen.prefix(3).joined(separator: ", "))): DMARC passes only through an aligned DKIM signature"
        }
        return "; SPF can align with the envelope domain \(aligned[0])"
    }

    /// `k=v; k=v` tags (DMARC, DKIM), keys lower-cased, values trimmed.
    static func tags(_ record: String) -> [String: String] {
        var out: [String: String] = [:]
        for part in record.split(separator: ";") {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2 else { continue }
            let k = Self.trim(kv[0]).lowercased()
            if out[k] == nil { out[k] = Self.trim(kv[1]) }
        }
        return out
    }

    static func trim(_ s: Substring) -> String {
        var t = s
        while let c = t.first, c == " " || c == "\t" { t.removeFirst() }
        while let c = t.last, c == " " || c == "\t" { t.removeLast() }
        return String(t)
    }

    // MARK: - DKIM

    /// A configured DKIM selector exists and carries a key.
    public func dkim(_ domain: String, selector: String) -> Finding {
        let name = "\(selector)._domainkey.\(domain)"
        let answer = resolver.query(name, .txt)
        let evidence = answer.describe(name, .txt)
        let subject = "\(selector) of \(domain)"
        switch answer {
        case .failed:
            return Finding(check: "dkim", subject: subject, verdict: .unknown, summary: "the DKIM key lookup got no answer", evidence: evidence, short: "dkim=unknown")
        case .nxdomain, .noData:
            return Finding(check: "dkim", subject: subject, verdict: .problem, summary: "no DKIM key at \(name)", evidence: evidence,
                           fix: "publish the selector's public key at \(name) (or sign with a selector that is published)", short: "dkim=missing")
        case .records(let rs):
            let keys = rs.map(\.value).filter { Self.tags($0)["p"] != nil }
            guard let key = keys.first else {
                return Finding(check: "dkim", subject: subject, verdict: .problem, summary: "the TXT record at \(name) is not a DKIM key (no p= tag)",
                               evidence: evidence, fix: "publish v=DKIM1; k=rsa; p=<the public key> at \(name)", short: "dkim=invalid")
            }
            let t = Self.tags(key)
            if t["p"]!.isEmpty {
                return Finding(check: "dkim", subject: subject, verdict: .problem, summary: "the key at \(name) is revoked (empty p=)",
                               evidence: evidence, fix: "sign with a selector whose key is published, or publish a new key", short: "dkim=revoked")
            }
            let kind = (t["k"] ?? "rsa").lowercased()
            guard kind == "rsa" || kind == "ed25519" else {
                return Finding(check: "dkim", subject: subject, verdict: .problem, summary: "the key at \(name) is of an unknown type k=\(kind)",
                               evidence: evidence, fix: "publish an rsa or ed25519 key", short: "dkim=invalid")
            }
            return Finding(check: "dkim", subject: subject, verdict: .ok, summary: "a \(kind) key is published at \(name)", evidence: evidence, short: "dkim=ok")
        }
    }

    // MARK: - Blocklists

    /// The sending IP in a DNS blocklist (`zone`): listed when the list answers an address
    /// in 127.0.0.0/8; 127.255.255.x is the list refusing the query (most lists refuse
    /// public resolvers), so `unknown`.
    public func blocklist(_ ip: IPAddress, zone: String) -> Finding {
        listing(ip.listed(in: zone), subject: ip.description, zone: zone, check: "dnsbl")
    }

    /// A sender domain in a domain blocklist (RHSBL).
    public func domainBlocklist(_ domain: String, zone: String) -> Finding {
        listing("\(domain).\(zone)", subject: domain, zone: zone, check: "rhsbl")
    }

    private func listing(_ name: String, subject: String, zone: String, check: String) -> Finding {
        let answer = resolver.query(name, .a)
        var evidence = answer.describe(name, .a)
        switch answer {
        case .failed:
            return Finding(check: check, subject: subject, verdict: .unknown, summary: "\(zone) did not answer", evidence: evidence, short: "\(check)=unknown")
        case .nxdomain, .noData:
            return Finding(check: check, subject: subject, verdict: .ok, summary: "not listed in \(zone)", evidence: evidence, short: "\(check)=ok")
        case .records(let rs):
            let codes = rs.map(\.value)
            if codes.allSatisfy({ $0.hasPrefix("127.255.255.") }) {
                return Finding(check: check, subject: subject, verdict: .unknown,
                               summary: "\(zone) refused the query (\(codes.joined(separator: ", "))): lists refuse public and unregistered resolvers",
                               evidence: evidence, fix: "query \(zone) through a resolver of your own (configure [dns] servers)", short: "\(check)=refused")
            }
            let listed = codes.filter { $0.hasPrefix("127.") }
            guard !listed.isEmpty else {
                return Finding(check: check, subject: subject, verdict: .unknown, summary: "\(zone) answered \(codes.joined(separator: ", ")), not a listing code",
                               evidence: evidence, short: "\(check)=unknown")
            }
            let txt = resolver.query(name, .txt)
            evidence += txt.describe(name, .txt)
            let reason = txt.records.first.map { ": \($0.value)" } ?? ""
            return Finding(check: check, subject: subject, verdict: .problem,
                           summary: "listed in \(zone) with \(listed.joined(separator: ", "))\(reason)", evidence: evidence,
                           fix: "find out why at the list's lookup page for \(subject), fix the cause (a compromised account, a form that sends), then ask for delisting",
                           short: "\(check)=listed")
        }
    }
}
