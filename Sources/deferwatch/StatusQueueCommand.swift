import ArgumentParser
import DeferWatchCore
import DeferWatchDaemon
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension StatusCommand {
    /// `deferwatch status queue`: the deferred queue as the daemon's logs show it, compared
    /// with the MTA's own queue where this user may list it.
    struct Queue: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "queue",
            abstract: "The deferred queue as the logs show it: messages by destination and cause, their ages, what will expire.",
            discussion: """
            Every message with a recipient whose last attempt was deferred, per recipient
            domain, relay and provider, with age buckets (0-5m ... 4d+), the oldest, and the
            time to its expiry. Compared with the MTA's own queue when it can be listed:
            Postfix's `postqueue -j` (any user by default), Exim's `exim -bp` (root or the
            Exim user); the ids only one side has are listed.
            """)
        @OptionGroup var options: Options
        @Option(name: .long, help: ArgumentHelp("Only this recipient domain, relay host or provider, with its messages.", valueName: "name"))
        var destination: String?
        @Option(name: .long, help: "Rows per kind of destination.") var limit = 20
        @Option(name: .long, help: ArgumentHelp("Compare with the MTA's queue: auto (each MTA whose command is here), postfix, exim or none.", valueName: "mta"))
        var compare = "auto"

        func validate() throws {
            guard ["auto", "postfix", "exim", "none"].contains(compare) else {
                throw ValidationError("--compare is auto, postfix, exim or none")
            }
            if limit < 0 { throw ValidationError("--limit must be zero or more") }
        }

        func run() throws {
            var target = "/v1/queue?limit=\(limit)"
            if let destination { target += "&destination=" + Destinations.escape(destination.lowercased()) }
            if compare != "none" && destination == nil { target += "&ids=1" }
            // The JSON is decoded here in both modes: the comparison is added to it.
            var o = options
            o.json = false
            guard var view = try o.fetch(target, as: QueueView.self) else { return }
            if compare != "none" && destination == nil {
                let full = view
                view.reconciliation = QueueReconciler.compare(full, mtas: compare == "auto" ? nil : compare == "exim" ? .exim : .postfix)
                view.list = nil
                view.listTruncated = nil
            }
            if options.json {
                writeStdout(StatusRouter.jsonBytes(view))
                return
            }
            print(view.text(reconciliation: QueueReconciler.text(view.reconciliation ?? [])), terminator: "")
        }
    }
}
