extension AnalysisReport {
    /// The report for a terminal: totals, providers, destinations worst first, and the
    /// deferral texts no rule explained.
    public func text(limit: Int = 20) -> String {
        var o = ""
        func line(_ s: String = "") { o += s + "\n" }
        func pct(_ x: Double) -> String {
            let v = (x * 1000).rounded() / 10
            return "\(v)%"
        }
        func when(_ t: Int64?) -> String { t.map(CivilTime.rfc3339) ?? "-" }
        func causeList(_ c: CauseCounts) -> String {
            c.nonZero.map { "\($0.0.rawValue) \($0.1)" }.joined(separator: ", ")
        }

        line("deferwatch analyze: \(inputs.isEmpty ? "-" : inputs.joined(separator: " "))")
        line("period          \(when(firstTime)) .. \(when(lastTime))")
        line("lines read      \(counters.lines)  (postfix \(counters.postfixLines), exim \(counters.eximLines), other programs \(counters.otherProgramLines), unrecognised \(counters.unrecognisedLines), oversized \(counters.oversizedLines))")
        line("messages        \(messages)")
        let a = attempts
        let share = a.total == 0 ? 0 : Double(a.deferred) / Double(a.total)
        line("attempts        \(a.total)  (sent \(a.sent), deferred \(a.deferred) = \(pct(share)), bounced \(a.bounced), expired \(a.expired))")
        if causes.total > 0 {
            line("deferral causes \(causeList(causes))")
            if inheritedDeferrals > 0 {
                line("                (\(inheritedDeferrals) deferrals without a reply of their own inherited the cause of an earlier one)")
            }
        }
        if !localDeferrals.isEmpty {
            line()
            line("THIS HOST'S OWN DEFERRALS (decided by the sending MTA itself; no receiver deferred these)")
            for host in localDeferrals.keys.sorted() {
                line("  \(host): \(causeList(localDeferrals[host]!))")
            }
        }
        if !inputErrors.isEmpty {
            line()
            line("input problems:")
            for e in inputErrors { line("  \(e)") }
        }

        let deferringSenders = senders.filter { $0.attempts.deferred > 0 }
        if !deferringSenders.isEmpty {
            line()
            line("SENDER DOMAINS WITH DEFERRALS (the envelope sender's domain; receivers throttle per sending domain too)")
            for d in deferringSenders.prefix(limit) {
                line("  \(d.domain): \(d.attempts.deferred) deferred, \(d.attempts.bounced) bounced, \(d.attempts.expired) expired: \(causeList(d.causes))")
            }
            if deferringSenders.count > limit { line("  ... \(deferringSenders.count - limit) more") }
        }

        let deferringProviders = providers.filter { $0.attempts.deferred > 0 }
        if !deferringProviders.isEmpty {
            line()
            line("PROVIDERS WITH DEFERRALS")
            for p in deferringProviders {
                line("  \(p.domain): \(p.attempts.deferred) of \(p.attempts.total) attempts deferred (\(pct(p.deferredShare))): \(causeList(p.causes))")
            }
        }

        line()
        if destinations.isEmpty {
            line(localDeferrals.isEmpty ? "No deferrals." : "No destination deferred mail.")
        } else {
            line("DESTINATIONS WITH DEFERRALS, worst first (\(min(limit, destinations.count)) of \(destinations.count))")
            for d in destinations.prefix(limit) {
                let provider = d.provider.map { " [\($0)]" } ?? ""
                line("  \(d.domain)\(provider)")
                line("    deferred \(d.attempts.deferred) of \(d.attempts.total) attempts (\(pct(d.deferredShare))), sent \(d.attempts.sent), bounced \(d.attempts.bounced), expired \(d.attempts.expired)")
                line("    causes   \(causeList(d.causes))")
                line("    seen     \(when(d.firstDeferral)) .. \(when(d.lastDeferral))")
                if let s = d.sample {
                    line("    sample   \(truncate(s, 240))")
                }
            }
            if evictedDestinations > 0 {
                line("  (\(evictedDestinations) quiet destinations were dropped from this table to bound memory; totals include them)")
            }
        }

        if !unexplained.isEmpty {
            line()
            line("DEFERRAL TEXTS NO RULE EXPLAINED (cause other), most frequent first: \(unexplainedTotal) deferrals")
            for u in unexplained.prefix(limit) {
                line("  \(u.count)x  \(truncate(u.example, 240))")
            }
        }
        if !unrecognisedSamples.isEmpty && counters.unrecognisedLines > 0 {
            line()
            line("UNRECOGNISED LINES (first \(unrecognisedSamples.count) of \(counters.unrecognisedLines))")
            for s in unrecognisedSamples { line("  \(truncate(s, 160))") }
        }
        return o
    }

    private func truncate(_ s: String, _ n: Int) -> String {
        s.count <= n ? s : String(s.prefix(n)) + "..."
    }
}
