import DeferWatchCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The deferred queue as the logs show it, compared with the MTA's own: Postfix's
/// `postqueue -j` (JSON, one message a line; any user may list the queue by default) and
/// Exim's `exim -bp` (root or the Exim user). Run by `deferwatch status queue`, as the user
/// who runs it, not by the daemon (whose sandbox keeps it away from the MTA's queue).
public enum QueueReconciler {
    /// Where the commands are looked for.
    public static let postqueuePaths = ["/usr/sbin/postqueue", "/usr/bin/postqueue"]
    public static let eximPaths = ["/usr/sbin/exim4", "/usr/sbin/exim", "/usr/bin/exim4", "/usr/bin/exim"]

    /// One comparison per MTA: `only` one, or (nil) each whose command is on this host.
    public static func compare(_ view: QueueView, mtas only: MTA? = nil, hostName: String = SystemTimeZone.hostName(),
                               postqueue: [String] = postqueuePaths, exim: [String] = eximPaths) -> [QueueView.Reconciliation] {
        var out: [QueueView.Reconciliation] = []
        for mta in [MTA.postfix, .exim] where only == nil || only == mta {
            let paths = mta == .postfix ? postqueue : exim
            guard let path = paths.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                if only != nil {
                    out.append(.init(command: mta == .postfix ? "postqueue -j" : "exim -bp", mta: mta, queued: 0, seen: 0,
                                     onlyInLogs: [], onlyInQueue: [], note: "not installed here (looked for \(paths.joined(separator: ", ")))"))
                }
                continue
            }
            let command = "\(path) \(mta == .postfix ? "-j" : "-bp")"
            let ours = Self.ours(view, mta: mta, hostName: hostName)
            switch run(path, [mta == .postfix ? "-j" : "-bp"]) {
            case .failure(let why):
                out.append(.init(command: command, mta: mta, queued: 0, seen: ours.count, onlyInLogs: [], onlyInQueue: [], note: why.description))
            case .success(let text):
                let queued = mta == .postfix ? postqueueIDs(text) : eximIDs(text)
                var r = QueueView.Reconciliation(command: command, mta: mta, queued: queued.count, seen: ours.count,
                                                 onlyInLogs: ours.subtracting(queued).sorted(), onlyInQueue: queued.subtracting(ours).sorted())
                if view.listTruncated == true {
                    r.onlyInLogs = []
                    r.onlyInQueue = []
                    r.note = "the daemon listed only its oldest messages: the counts alone are compared"
                }
                out.append(r)
            }
        }
        return out
    }

    /// The queue ids deferwatch has for this MTA and host (all of them when the logs name
    /// one host only: its name in the log may differ from the host name).
    static func ours(_ view: QueueView, mta: MTA, hostName: String) -> Set<String> {
        let list = (view.list ?? []).filter { $0.mta == mta }
        let hosts = Set(list.map(\.host))
        let mine = hosts.count <= 1 ? list : list.filter { $0.host == hostName.lowercased() }
        return Set(mine.map(\.queueId))
    }

    /// `postqueue -j`: the messages waiting for a retry (the deferred queue, or a recipient
    /// with a delay reason); bad lines are skipped.
    public static func postqueueIDs(_ text: String) -> Set<String> {
        var ids = Set<String>()
        let decoder = JSONDecoder()
        for line in text.split(separator: "\n") {
            guard let m = try? decoder.decode(PostqueueMessage.self, from: Data(line.utf8)), let id = m.queue_id else { continue }
            let deferredQueue = m.queue_name == "deferred"
            let delayed = m.recipients?.contains { $0.delay_reason?.isEmpty == false } ?? false
            if deferredQueue || delayed { ids.insert(id) }
        }
        return ids
    }

    /// What deferwatch reads of a line of `postqueue -j`: a field of another type than
    /// Postfix documents counts as absent, as does a recipient that is not an object.
    struct PostqueueMessage: Decodable {
        var queue_id: String?
        var queue_name: String?
        var recipients: [Recipient]?

        struct Recipient: Decodable {
            var delay_reason: String?
            init(from decoder: any Decoder) throws {
                let c = try? decoder.container(keyedBy: Keys.self)
                delay_reason = try? c?.decodeIfPresent(String.self, forKey: .delay_reason)
            }
            enum Keys: String, CodingKey { case delay_reason }
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            queue_id = try? c.decodeIfPresent(String.self, forKey: .queue_id)
            queue_name = try? c.decodeIfPresent(String.self, forKey: .queue_name)
            recipients = try? c.decodeIfPresent([Recipient].self, forKey: .recipients)
        }
        enum Keys: String, CodingKey { case queue_id, queue_name, recipients }
    }

    /// `exim -bp`: each message's header line is `AGE SIZE ID <sender>` (and `*** frozen ***`).
    public static func eximIDs(_ text: String) -> Set<String> {
        var ids = Set<String>()
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 4, f[3].hasPrefix("<") else { continue }
            let id = f[2]
            guard id.utf8.count >= 16, id.utf8.count <= 23, id.dropFirst(6).first == "-" else { continue }
            ids.insert(String(id))
        }
        return ids
    }

    /// The comparison for people, lines to put under the totals.
    public static func text(_ rs: [QueueView.Reconciliation]) -> String {
        var out = ""
        for r in rs {
            if let note = r.note, r.queued == 0, r.onlyInLogs.isEmpty {
                out += "  compared with \(r.command): \(note)\n"
                continue
            }
            out += "  compared with \(r.command): \(r.queued) message\(r.queued == 1 ? "" : "s") waiting there, \(r.seen) in the logs"
            out += r.onlyInLogs.isEmpty && r.onlyInQueue.isEmpty && r.note == nil ? ": the same\n" : "\n"
            if let note = r.note { out += "    \(note)\n" }
            func ids(_ a: [String]) -> String { a.prefix(20).joined(separator: " ") + (a.count > 20 ? " ... (\(a.count) in all)" : "") }
            if !r.onlyInLogs.isEmpty { out += "    only in the logs (delivered or removed without a line deferwatch read?): \(ids(r.onlyInLogs))\n" }
            if !r.onlyInQueue.isEmpty { out += "    only in the queue (not tried yet, or its lines were lost or rotated away): \(ids(r.onlyInQueue))\n" }
        }
        return out
    }

    private static func run(_ path: String, _ args: [String]) -> Result<String, Failure> {
        let p: ProgramRun
        do { p = try ProgramRun.run(path, args) } catch { return .failure(Failure("\(error)")) }
        guard p.status == 0 else {
            let why = String(decoding: p.errors, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "exit \(p.status)"
            return .failure(Failure("\(path) \(args.joined(separator: " ")) failed: \(why)"))
        }
        return .success(String(decoding: p.output, as: UTF8.self))
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}
