#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// What the host itself says of its sending identity, read once at the start and on
/// reload: Postfix's `smtp_bind_address`/`smtp_bind_address6`, `smtp_helo_name` and
/// `myhostname` from main.cf (literal values only: `$name` expansions are not followed);
/// Exim's `REMOTE_SMTP_INTERFACE` and `REMOTE_SMTP_HELO_DATA` macros where Debian sets them
/// (exim4.conf.localmacros, conf.d/main/00_local_macros); the host's global addresses, and
/// its name.
public struct HostIdentity: Sendable, Equatable {
    var bindAddresses: [IPAddress] = []
    var bindFrom = "Postfix smtp_bind_address"
    var globalAddresses: [IPAddress] = []
    var heloName: String?
    var heloFrom = ""

    /// Exim on Debian: the macros of remote_smtp's `interface` and `helo_data`, where
    /// Debian's exim4 documentation says to set them.
    public static let eximMacroFiles = ["/etc/exim4/exim4.conf.localmacros", "/etc/exim4/conf.d/main/00_local_macros"]

    static func read(postfixMainCF: String = "/etc/postfix/main.cf", eximMacros: [String] = eximMacroFiles) -> HostIdentity {
        var h = HostIdentity()
        let cf = mainCF(postfixMainCF)
        for key in ["smtp_bind_address", "smtp_bind_address6"] {
            if let v = cf[key], let ip = IPAddress(v) { h.bindAddresses.append(ip) }
        }
        var exim: [String: String] = [:]
        for f in eximMacros { exim.merge(mainCF(f)) { a, _ in a } }
        if h.bindAddresses.isEmpty, let v = exim["REMOTE_SMTP_INTERFACE"] {
            // An address list: "192.0.2.5 : 2001:db8::5" (Exim's list separator is a colon
            // with spaces round it).
            h.bindAddresses = v.split(separator: " ").compactMap { IPAddress(String($0)) }
            if !h.bindAddresses.isEmpty { h.bindFrom = "Exim REMOTE_SMTP_INTERFACE" }
        }
        if let v = cf["smtp_helo_name"], !v.contains("$"), v.contains(".") {
            h.heloName = v
            h.heloFrom = "Postfix smtp_helo_name"
        } else if let v = cf["myhostname"], !v.contains("$"), v.contains(".") {
            h.heloName = v
            h.heloFrom = "Postfix myhostname"
        } else if let v = exim["REMOTE_SMTP_HELO_DATA"], !v.contains("$"), v.contains(".") {
            h.heloName = v
            h.heloFrom = "Exim REMOTE_SMTP_HELO_DATA"
        } else {
            // The whole name: hostName() is its first label, as syslog lines carry it.
            let name = SystemTimeZone.fullHostName()
            if name.contains(".") {
                h.heloName = name
                h.heloFrom = "the host's name"
            }
        }
        h.globalAddresses = interfaceAddresses().filter(\.isGlobal)
        return h
    }

    /// `key = value` lines of a main.cf (continuation lines and comments skipped).
    static func mainCF(_ path: String) -> [String: String] {
        guard let f = fopen(path, "r") else { return [:] }
        defer { fclose(f) }
        var out: [String: String] = [:]
        var line: UnsafeMutablePointer<CChar>?
        var cap = 0
        defer { free(line) }
        var lines = 0
        while getline(&line, &cap, f) > 0, let l = line, lines < 100_000 {
            lines += 1
            let s = String(cString: l)
            guard let first = s.unicodeScalars.first, first != "#", first != " ", first != "\t" else { continue }
            let kv = s.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            let k = kv[0].trimmingSpaces, v = kv[1].trimmingSpaces
            if !k.isEmpty { out[k] = v }
        }
        return out
    }

    static func interfaceAddresses() -> [IPAddress] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var out: [IPAddress] = []
        var p = list
        while let a = p {
            defer { p = a.pointee.ifa_next }
            guard let sa = a.pointee.ifa_addr else { continue }
            var bytes: [UInt8] = []
            if sa.pointee.sa_family == sa_family_t(AF_INET) {
                sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { s in
                    var addr = s.pointee.sin_addr
                    bytes = withUnsafeBytes(of: &addr) { Array($0) }
                }
            } else if sa.pointee.sa_family == sa_family_t(AF_INET6) {
                sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { s in
                    var addr = s.pointee.sin6_addr
                    bytes = withUnsafeBytes(of: &addr) { Array($0) }
                }
            }
            if let ip = IPAddress(bytes: bytes), !out.contains(ip) { out.append(ip) }
        }
        return out
    }

    /// The identity an alert's checks look at: `[identity]` first; else the address the
    /// reply names, the MTA's bind address, the host's global addresses; the HELO name
    /// from the MTA or the host; the sender domains the alert's deferrals came from.
    func identity(for alert: Alert, config: DeferWatchConfig, senderDomains: [String]) -> SendingIdentity {
        var id = SendingIdentity()
        let conf = config.identity
        if !conf.addresses.isEmpty {
            id.ips = conf.addresses.compactMap(IPAddress.init)
            id.learned.append("ip \(id.ips.map(\.description).joined(separator: ", ")) ([identity] addresses)")
        } else if case let named = SendingIdentity.addressesNamed(in: alert.sample), !named.isEmpty {
            id.ips = named
            id.learned.append("ip \(named.map(\.description).joined(separator: ", ")) (named in the reply)")
        } else if !bindAddresses.isEmpty {
            id.ips = bindAddresses
            id.learned.append("ip \(bindAddresses.map(\.description).joined(separator: ", ")) (\(bindFrom))")
        } else if !globalAddresses.isEmpty {
            id.ips = Array(globalAddresses.prefix(4))
            id.learned.append("ip \(id.ips.map(\.description).joined(separator: ", ")) (the host's global addresses)")
        }
        if let h = conf.helo {
            id.helo = h
            id.learned.append("helo \(h) ([identity] helo)")
        } else if let h = heloName {
            id.helo = h
            id.learned.append("helo \(h) (\(heloFrom))")
        }
        if !conf.domains.isEmpty {
            id.domains = conf.domains
            id.learned.append("domains \(conf.domains.joined(separator: ", ")) ([identity] domains)")
        } else if !senderDomains.isEmpty {
            id.domains = senderDomains
            id.learned.append("domains \(senderDomains.joined(separator: ", ")) (senders of the deferred mail)")
        }
        id.envelopeDomains = senderDomains
        id.selectors = conf.dkimSelectors
        id.blocklists = config.dns.blocklists
        id.domainBlocklists = config.dns.domainBlocklists
        return id
    }
}

extension Substring {
    var trimmingSpaces: String {
        var s = self
        while let c = s.first, c == " " || c == "\t" || c == "\n" || c == "\r" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\n" || c == "\r" { s.removeLast() }
        return String(s)
    }
}
