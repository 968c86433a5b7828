extension AnalysisReport {
    /// The report as one JSON document (schema in the README, "JSON documents").
    public func json(limit: Int? = nil) -> [UInt8] {
        let w = JSONWriter(capacity: 64 * 1024)
        w.beginObject()
        w.key("schema_version"); w.int(StatusReport.schemaVersion)
        w.key("version"); w.string(DeferWatchVersion.string)
        w.key("inputs"); w.beginArray(); for i in inputs { w.string(i) }; w.endArray()
        w.key("first_time"); w.time(firstTime)
        w.key("last_time"); w.time(lastTime)
        w.key("lines"); w.beginObject()
        w.key("total"); w.int(counters.lines)
        w.key("postfix"); w.int(counters.postfixLines)
        w.key("exim"); w.int(counters.eximLines)
        w.key("other_programs"); w.int(counters.otherProgramLines)
        w.key("own"); w.int(counters.ownLines)
        w.key("unrecognised"); w.int(counters.unrecognisedLines)
        w.key("oversized"); w.int(counters.oversizedLines)
        w.endObject()
        w.key("messages"); w.int(messages)
        w.key("attempts"); writeAttempts(attempts, w)
        w.key("causes"); writeCauses(causes, w)
        w.key("inherited_deferrals"); w.int(inheritedDeferrals)
        w.key("local_deferrals"); w.beginArray()
        for host in localDeferrals.keys.sorted() {
            w.beginObject()
            w.key("host"); w.string(host)
            w.key("causes"); writeCauses(localDeferrals[host]!, w)
            w.endObject()
        }
        w.endArray()
        w.key("providers"); w.beginArray()
        for p in providers { writeDestination(p, w, isProvider: true) }
        w.endArray()
        w.key("destinations"); w.beginArray()
        for d in destinations.prefix(limit ?? Int.max) { writeDestination(d, w, isProvider: false) }
        w.endArray()
        w.key("destinations_total"); w.int(destinations.count)
        w.key("senders"); w.beginArray()
        for d in senders.prefix(limit ?? Int.max) {
            w.beginObject()
            w.key("sender_domain"); w.string(d.domain)
            w.key("deferred"); w.int(d.attempts.deferred)
            w.key("bounced"); w.int(d.attempts.bounced)
            w.key("expired"); w.int(d.attempts.expired)
            w.key("causes"); writeCauses(d.causes, w)
            w.endObject()
        }
        w.endArray()
        w.key("senders_total"); w.int(senders.count)
        w.key("destinations_evicted"); w.int(evictedDestinations)
        w.key("unexplained_total"); w.int(unexplainedTotal)
        w.key("unexplained"); w.beginArray()
        for u in unexplained.prefix(limit ?? Int.max) {
            w.beginObject()
            w.key("count"); w.int(u.count)
            w.key("shape"); w.string(u.shape)
            w.key("example"); w.string(u.example)
            w.endObject()
        }
        w.endArray()
        w.key("unrecognised_samples"); w.beginArray(); for s in unrecognisedSamples { w.string(s) }; w.endArray()
        w.key("errors"); w.beginArray(); for s in inputErrors { w.string(s) }; w.endArray()
        w.endObject()
        w.newline()
        return w.bytes
    }

    private func writeAttempts(_ a: AttemptCounts, _ w: JSONWriter) {
        w.beginObject()
        w.key("total"); w.int(a.total)
        w.key("sent"); w.int(a.sent)
        w.key("deferred"); w.int(a.deferred)
        w.key("bounced"); w.int(a.bounced)
        w.key("expired"); w.int(a.expired)
        w.endObject()
    }

    /// Deferrals by cause, most first: `[{"cause": ..., "deferrals": N}]`, as the status's
    /// destinations have them.
    private func writeCauses(_ c: CauseCounts, _ w: JSONWriter) {
        w.beginArray()
        for (cause, n) in c.nonZero {
            w.beginObject()
            w.key("cause"); w.string(cause.rawValue)
            w.key("deferrals"); w.int(n)
            w.endObject()
        }
        w.endArray()
    }

    private func writeDestination(_ d: DestinationSummary, _ w: JSONWriter, isProvider: Bool) {
        w.beginObject()
        if isProvider {
            w.key("provider"); w.string(d.domain)
        } else {
            w.key("domain"); w.string(d.domain)
            w.key("provider"); w.string(d.provider)
        }
        w.key("attempts"); writeAttempts(d.attempts, w)
        w.key("deferred_share"); w.double(d.deferredShare)
        w.key("causes"); writeCauses(d.causes, w)
        w.key("first_deferral"); w.time(d.firstDeferral)
        w.key("last_deferral"); w.time(d.lastDeferral)
        w.key("sample_relay"); w.string(d.sampleRelay)
        w.key("sample"); w.string(d.sample)
        w.endObject()
    }
}
