#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The saved state of `deferwatch run`: loaded at the start (a state file no run could have
/// written is refused; state that a marker says a run saved, and that is gone, is said),
/// saved at each checkpoint (a removed directory is made again), and the marker that says
/// state is saved here. What goes wrong is said on stderr, in syslog (`report`) and in the
/// status (`error`, `warning`).
final class StateKeeper {
    let store: any StateStore
    private let clock: any DaemonClock
    private let markerPath: String?
    /// Why the last save failed; nil once a save works again.
    private(set) var error: String?
    /// Something that went wrong with the state and was dealt with.
    private(set) var warning: String?
    /// When the state was last saved (wall clock, microseconds).
    private(set) var lastSavedWall: Int64?
    private var lastMarkerWall: Int64?
    private var markerFailed = false
    /// Puts a line into syslog (an `alert=state-error` line).
    private let report: (String) -> Void
    /// The state directory was made (again): what keeps files there opens them anew.
    private let madeDirectory: () -> Void

    init(store: any StateStore, clock: any DaemonClock, markerPath: String?, report: @escaping (String) -> Void,
         madeDirectory: @escaping () -> Void) {
        self.store = store
        self.clock = clock
        self.markerPath = markerPath
        self.report = report
        self.madeDirectory = madeDirectory
    }

    var directory: String { store.location }

    /// What the start found: the saved state (empty on a first start), and when state that
    /// should be here was last saved, if it is gone.
    struct Found {
        var saved: SavedState
        var firstStart: Bool
        var lostSince: Int64?
        /// The deferred queue saved with it (from its file, or from an earlier version's
        /// state), nil when none or refused.
        var queue: QueueBook.Snapshot?
    }

    /// The queue file the last saved state names, and the book's `changes` it holds.
    private var queueRef: QueueFileRef?
    private var queueChanges: UInt64?

    /// Throws when the state file is there but cannot be read (it is not refused: it may be
    /// fine, and the operator must see why).
    func load() throws(InputError) -> Found {
        var state: SavedState?
        if let data = try store.read() {
            do { state = try JSONDecoder().decode(SavedState.self, from: data) } catch {
                refuse("\(error)")
            }
        }
        if let problems = state?.problems, !problems.isEmpty {
            refuse(problems.prefix(5).joined(separator: "; "))
            state = nil
        }
        guard let state else {
            // No state: a first start, unless a marker says a run saved state here before.
            var lost: Int64?
            if let mp = markerPath, let m = StateMarker.load(mp, for: directory) {
                lost = m.savedAt
                warn("saved state in \(directory) is missing (a run saved it there at \(CivilTime.rfc3339(m.savedAt)), says \(mp)): "
                     + "the lines logged since then are read again, and the counters start at zero")
            }
            if store.remake() {
                writeStderr("deferwatch: made the state directory \(directory)")
                madeDirectory()
            }
            return Found(saved: SavedState(), firstStart: true, lostSince: lost)
        }
        return Found(saved: state, firstStart: false, lostSince: nil, queue: loadQueue(state))
    }

    /// The queue of the state's file; a damaged or missing file costs the queue only (it is
    /// rebuilt from the next attempts), not the positions and alerts.
    private func loadQueue(_ state: SavedState) -> QueueBook.Snapshot? {
        defer { store.removeSides(keeping: queueRef?.name) }
        guard let ref = state.queueFile else { return state.queue }
        let data: Data?
        do { data = try store.readSide(ref.name) } catch {
            warn("the saved deferred queue cannot be read (\(error)); the queue starts empty")
            return nil
        }
        guard let data else {
            warn("the saved deferred queue \(directory)/\(ref.name) is missing; the queue starts empty")
            return nil
        }
        let read = data.withUnsafeBytes { QueueBook.readFile($0, expecting: ref.summary) }
        switch read {
        case .failure(let e):
            warn("the saved deferred queue \(directory)/\(ref.name) \(e); the queue starts empty")
            return nil
        case .success(let q):
            let problems = q.problems
            guard problems.isEmpty else {
                warn("the saved deferred queue \(directory)/\(ref.name) is refused (\(problems.prefix(3).joined(separator: "; "))); the queue starts empty")
                return nil
            }
            queueRef = ref
            return q
        }
    }

    /// Saves a checkpoint, with the deferred queue's file when the queue changed since the
    /// last (first the file, then the state that names it, then the older file goes: a crash
    /// in between leaves a state and the file it names); `final` (the stop) writes the marker
    /// whatever its age.
    func save(_ state: SavedState, queue: QueueBook? = nil, final: Bool) {
        var state = state
        do {
            var ref = queueRef
            if let queue, queueChanges != queue.changes || ref == nil {
                let generation = (queueRef?.generation ?? 0) &+ 1
                var summary: QueueBook.FileSummary?
                try writeSide(SideFile.queue(generation)) { emit in
                    summary = queue.write(to: emit)
                    return summary != nil
                }
                ref = summary.map { QueueFileRef(generation: generation, summary: $0) }
            }
            if queue == nil { ref = nil }
            state.queueFile = ref
            let data = try encode(state)
            do {
                try store.write(data)
            } catch where store.remake() {
                warn("the state directory \(directory) was removed while deferwatch was running; it was made again and the state saved there")
                madeDirectory()
                try store.write(data)
            }
            // The file the state named before goes once the state names another (or none);
            // strays of a crash went at the start (loadQueue).
            if ref != queueRef { store.removeSides(keeping: ref?.name) }
            queueRef = ref
            queueChanges = queue?.changes
            saveMarker(force: final)
            lastSavedWall = clock.wall()
            if error != nil { writeStderr("deferwatch: state directory writable again") }
            error = nil
        } catch {
            // Reported loudly, retried at the next checkpoint; analysis goes on.
            if self.error == nil {
                writeStderr("deferwatch: cannot save checkpoints: \(error)")
                report("cannot save checkpoints: \(error)")
            }
            self.error = "\(error)"
        }
    }

    /// A side file, made again with its directory when that was removed.
    private func writeSide(_ name: String, _ produce: (_ emit: (UnsafeRawBufferPointer) -> Bool) -> Bool) throws(InputError) {
        do {
            try store.writeSide(name, produce)
        } catch where store.remake() {
            warn("the state directory \(directory) was removed while deferwatch was running; it was made again and the state saved there")
            madeDirectory()
            try store.writeSide(name, produce)
        }
    }

    private func encode(_ state: SavedState) throws(InputError) -> Data {
        do { return try JSONEncoder().encode(state) } catch {
            throw InputError(path: directory, operation: "cannot encode state", detail: "\(error)")
        }
    }

    /// A state file no run could have written is set aside (`.refused`), and this start
    /// begins afresh, as a first start does.
    private func refuse(_ why: String) {
        let kept = store.setAside().map { "it is kept as \($0)" } ?? "it could not be set aside"
        warn("state file \(store.savedName) refused (\(why)); \(kept); this start begins afresh")
    }

    private func warn(_ message: String) {
        warning = message
        writeStderr("deferwatch: \(message)")
        report(message)
    }

    /// The marker that says this run saves state (at most once a minute, and at the end).
    private func saveMarker(force: Bool) {
        guard let mp = markerPath else { return }
        let wall = clock.wall()
        if !force, let last = lastMarkerWall, wall - last < 60_000_000 { return }
        lastMarkerWall = wall
        do {
            try StateMarker(directory: directory, savedAt: wall).save(to: mp)
        } catch {
            if !markerFailed { writeStderr("deferwatch: cannot write the state marker (a removed state directory will look like a first start): \(error)") }
            markerFailed = true
        }
    }
}
