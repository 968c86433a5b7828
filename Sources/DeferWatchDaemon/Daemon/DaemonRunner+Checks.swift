import DeferWatchCore

/// The DNS checks of alerts' claims (`[checks]`): asked for when a reverse_dns,
/// authentication or reputation alert opens or is reminded, run by the AlertChecker's
/// thread, taken at each step: kept for the status, counted, and written as an
/// `alert=checked` line through the outbox like any alert line.
struct ClaimBook {
    /// The last checks of each open alert.
    private(set) var byAlert: [Int: ClaimCheck] = [:]
    private(set) var claims: [String: Int] = [:]
    private(set) var findings: [String: Int] = [:]

    mutating func take(_ c: ClaimCheck) {
        byAlert[c.alertID] = c
        claims[c.verdict.rawValue, default: 0] += 1
        for f in c.findings { findings["\(f.check) \(f.verdict.rawValue)", default: 0] += 1 }
    }

    mutating func forget(_ id: Int) { byAlert[id] = nil }

    func counts(dropped: Int, waiting: Int) -> StatusReport.CheckCounts {
        let list = findings.sorted { $0.key < $1.key }.map { kv -> StatusReport.CheckCounts.Count in
            let parts = kv.key.split(separator: " ")
            return .init(check: String(parts[0]), verdict: String(parts[1]), count: kv.value)
        }
        return .init(claims: claims, findings: list, dropped: dropped, waiting: waiting)
    }
}

extension DaemonRunner {
    /// Starts the checking thread when `[checks]` is on (at the start and after a reload
    /// that changed `[checks]`, `[dns]` or `[identity]`).
    func startChecker() {
        checker?.stop()
        checker = nil
        let config = loaded.config
        guard config.checks.enabled else { return }
        hostIdentity = HostIdentity.read()
        let make = services.makeResolver
        let c = AlertChecker(config: config.checks, spf: LibSPF2(), makeResolver: { try make(config.dns) })
        c.start()
        checker = c
    }

    /// Asks for the checks of an alert a transition opened or reminded of; forgets the
    /// checks of one it resolved.
    func askChecks(for t: AlertTransition) {
        switch t.state {
        case .resolve:
            claimBook.forget(t.alert.id)
        case .open, .remind:
            guard let checker, ClaimCheck.checkedCauses.contains(t.alert.cause), !t.endOfInput else { return }
            let id = hostIdentity.identity(for: t.alert, config: loaded.config, senderDomains: t.alert.senders ?? [])
            checker.submit(.init(alertID: t.alert.id, cause: t.alert.cause, identity: id))
        case .escalate:
            break
        }
    }

    /// The checks finished since the last step: into the status and the outbox. Checks of
    /// an alert that resolved meanwhile are counted, not written.
    func takeChecks() {
        guard let checker else { return }
        let finished = checker.takeDone()
        guard !finished.isEmpty else { return }
        for var c in finished {
            c.time = clock.wall()
            claimBook.take(c)
            guard let a = tracker.openAlert(id: c.alertID) else {
                claimBook.forget(c.alertID)
                continue
            }
            outbox.add(.check(c, a), line: sink.format(c.logLine(alert: a), severity: a.severity))
        }
    }

    var checkCounts: StatusReport.CheckCounts? {
        guard let checker else { return nil }
        return claimBook.counts(dropped: checker.dropped, waiting: checker.waiting)
    }
}
