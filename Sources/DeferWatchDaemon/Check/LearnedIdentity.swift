import DeferWatchCore

/// The sending identity `deferwatch check` looks at when neither the command line nor
/// `[identity]` gives one: what logs show (the addresses receivers' deferral replies name,
/// the sender domains of the deferred mail), else what the host says (Postfix's bind
/// address, the host's global addresses; the HELO name from main.cf or the host's name).
public struct LearnedIdentity {
    /// Addresses named in deferral replies, most named first, with how often.
    public var namedAddresses: [(IPAddress, Int)] = []
    /// Sender domains of deferred mail, most deferred first, with how many deferrals.
    public var senderDomains: [(String, Int)] = []
    public var hostAddresses: [IPAddress] = []
    public var hostAddressesFrom = ""
    public var helo: String?
    public var heloFrom = ""

    /// What the host says of itself (no logs read): its MTA's configuration files (the
    /// defaults are Debian's) and its interfaces.
    public static func ofHost(postfixMainCF: String = "/etc/postfix/main.cf",
                              eximMacros: [String] = HostIdentity.eximMacroFiles) -> LearnedIdentity {
        let h = HostIdentity.read(postfixMainCF: postfixMainCF, eximMacros: eximMacros)
        var l = LearnedIdentity()
        if !h.bindAddresses.isEmpty {
            l.hostAddresses = h.bindAddresses
            l.hostAddressesFrom = h.bindFrom
        } else {
            l.hostAddresses = Array(h.globalAddresses.prefix(4))
            l.hostAddressesFrom = "the host's global addresses"
        }
        l.helo = h.heloName
        l.heloFrom = h.heloFrom
        return l
    }

    /// Reads logs as `analyze` does, and learns from their deferrals.
    public static func fromLogs(_ analyzer: BatchAnalyzer) -> (LearnedIdentity, BatchAnalyzer.Result) {
        var l = ofHost()
        var engine = analyzer.engine(report: ReportBuilder())
        var named: [IPAddress: Int] = [:]
        let result = analyzer.run(&engine) { e in
            guard e.status == .deferred, e.cause?.isLocal != true, named.count < 10_000 else { return }
            for ip in SendingIdentity.addressesNamed(in: e.text) { named[ip, default: 0] += 1 }
        }
        l.namedAddresses = named.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.description < $1.key.description }
            .map { ($0.key, $0.value) }
        if let report = engine.finishReport() {
            l.senderDomains = report.senders.filter { $0.attempts.deferred > 0 }.map { ($0.domain, $0.attempts.deferred) }
        }
        return (l, result)
    }
}
