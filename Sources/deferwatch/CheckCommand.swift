import ArgumentParser
import DeferWatchCore
import DeferWatchDaemon

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the sending identity in DNS: reverse DNS, HELO, MX, DMARC, DKIM, blocklists.",
        discussion: """
        Prints one finding per line: ok, problem or unknown (no answer: never taken for a
        problem), the check, what was checked and what was found, with the records seen
        (and their TTL) and, for a problem, what to change. What is not given on the
        command line comes from the configuration's [identity]; [dns] says which resolvers
        are asked (only DNS queries leave the host).

        Checks: ptr (each address has a PTR record), fcrdns (a PTR name has the address
        among its A/AAAA records), generic-ptr (the PTR name looks like an ISP's name for an
        end-user line), helo (the HELO name resolves to a sending address), mx (a sender
        domain can receive: MX, or an address; no null MX), dmarc (a DMARC record for the
        domain or its organisational domain, its policy and alignment), dkim (each selector
        has a published key), spf (each sender domain's SPF policy for each address, evaluated
        by libspf2 with the lookups through the same resolvers), spf-helo (the HELO name's),
        dnsbl and rhsbl (the configured blocklists, off by default).

        Exit status 0 when no finding is a problem, 5 when one is, 2 on bad usage.

        Examples:
          deferwatch check --ip 203.0.113.5 --helo mail.example.org --domain example.org
          deferwatch check --domain example.org --dkim-selector s2026 --json
        """
    )

    @Option(name: .long, help: ArgumentHelp("A sending IP address (repeatable).", valueName: "ip"))
    var ip: [String] = []

    @Option(name: .long, help: ArgumentHelp("The HELO/EHLO name the MTA gives.", valueName: "name"))
    var helo: String?

    @Option(name: .long, help: ArgumentHelp("A sender domain (repeatable).", valueName: "domain"))
    var domain: [String] = []

    @Option(name: .customLong("dkim-selector"), help: ArgumentHelp("A DKIM selector to look for under each sender domain (repeatable).", valueName: "selector"))
    var dkimSelector: [String] = []

    @Option(name: .long, help: ArgumentHelp("A DNS blocklist zone to look the addresses up in (repeatable; adds to [dns] blocklists).", valueName: "zone"))
    var blocklist: [String] = []

    @Flag(name: .long, help: "Print one JSON object per finding.")
    var json = false

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let loaded = try options.load()
        let identity = loaded.config.identity
        let ipTexts = ip.isEmpty ? identity.addresses : ip
        var ips: [IPAddress] = []
        for text in ipTexts {
            guard let a = IPAddress(text) else { throw ValidationError("\(text) is not an IP address") }
            ips.append(a)
        }
        let heloName = helo ?? identity.helo
        let domains = domain.isEmpty ? identity.domains : domain
        let selectors = dkimSelector.isEmpty ? identity.dkimSelectors : dkimSelector
        if ips.isEmpty && heloName == nil && domains.isEmpty {
            throw ValidationError("nothing to check: give --ip, --helo or --domain, or set [identity] in the configuration")
        }
        let resolver: SystemResolver
        do { resolver = try SystemResolver(config: loaded.config.dns) } catch {
            writeStderr("deferwatch: \(error)")
            throw ExitCode(1)
        }
        let findings = IdentityChecker(resolver: resolver, spf: LibSPF2()).findings(
            ips: ips, helo: heloName, domains: domains, selectors: selectors,
            blocklists: loaded.config.dns.blocklists + blocklist, domainBlocklists: loaded.config.dns.domainBlocklists)
        let out = FDWriter(fd: 1)
        for f in findings {
            if json {
                let w = JSONWriter()
                f.writeJSON(to: w)
                w.newline()
                out.write(w.bytes)
            } else {
                out.write(f.text)
            }
        }
        out.flush()
        if findings.contains(where: { $0.verdict == .problem }) { throw ExitCode(5) }
    }
}
