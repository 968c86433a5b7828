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

        Without --ip, --helo or --domain (and without [identity]), what is missing comes from
        the logs given with --from (the addresses receivers' deferral replies name, the
        sender domains of the deferred mail), else from the host (Postfix's
        smtp_bind_address, the host's global addresses, main.cf's smtp_helo_name or
        myhostname); stderr says where each came from.

        Examples:
          deferwatch check --from /var/log/mail.log
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

    @Option(name: .long, help: ArgumentHelp("A log file to learn the identity from when none is given (repeatable): the addresses deferral replies name, the sender domains of deferred mail.", valueName: "file"))
    var from: [String] = []

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
        var heloName = helo ?? identity.helo
        var domains = domain.isEmpty ? identity.domains : domain
        var envelope: [String] = []
        let selectors = dkimSelector.isEmpty ? identity.dkimSelectors : dkimSelector
        // What is still missing: from the logs given, else from the host itself.
        if ips.isEmpty || heloName == nil || domains.isEmpty {
            let learned: LearnedIdentity
            if from.isEmpty {
                learned = .ofHost()
            } else {
                var batch = BatchAnalyzer.Options(inputs: from, rules: loaded.rules)
                batch.fields = .all
                let (l, result) = LearnedIdentity.fromLogs(BatchAnalyzer(options: batch))
                for e in result.errors { writeStderr("deferwatch: \(e)") }
                learned = l
            }
            if ips.isEmpty, !learned.namedAddresses.isEmpty {
                ips = learned.namedAddresses.prefix(4).map(\.0)
                writeStderr("deferwatch: addresses from the logs: " + learned.namedAddresses.prefix(4).map { "\($0.0) (named in \($0.1) deferral replies)" }.joined(separator: ", "))
            } else if ips.isEmpty, !learned.hostAddresses.isEmpty {
                ips = learned.hostAddresses
                writeStderr("deferwatch: addresses from \(learned.hostAddressesFrom): \(ips.map(\.description).joined(separator: ", "))")
            }
            if heloName == nil, let h = learned.helo {
                heloName = h
                writeStderr("deferwatch: HELO name from \(learned.heloFrom): \(h)")
            }
            envelope = learned.senderDomains.prefix(5).map(\.0)
            if domains.isEmpty, !learned.senderDomains.isEmpty {
                domains = learned.senderDomains.prefix(5).map(\.0)
                writeStderr("deferwatch: sender domains from the logs: " + learned.senderDomains.prefix(5).map { "\($0.0) (\($0.1) deferrals)" }.joined(separator: ", "))
            }
        }
        if ips.isEmpty && heloName == nil && domains.isEmpty {
            throw ValidationError("nothing to check: give --ip, --helo or --domain (or --from LOG), or set [identity] in the configuration")
        }
        let resolver: SystemResolver
        do { resolver = try SystemResolver(config: loaded.config.dns) } catch {
            writeStderr("deferwatch: \(error)")
            throw ExitCode(1)
        }
        let findings = IdentityChecker(resolver: resolver, spf: LibSPF2()).findings(
            ips: ips, helo: heloName, domains: domains, selectors: selectors,
            blocklists: loaded.config.dns.blocklists + blocklist, domainBlocklists: loaded.config.dns.domainBlocklists,
            envelope: envelope)
        printEach(findings, json: json, { f, w in f.writeJSON(to: w) }, text: \.text)
        if findings.contains(where: { $0.verdict == .problem }) { throw ExitCode(5) }
    }
}
