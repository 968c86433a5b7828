#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// A small file outside the state directory saying that a run saved state there, and when
/// last. A start that finds no checkpoint but a marker for its state directory knows the
/// state was lost (the directory removed, the file deleted), not that this is a first
/// start: it says so, and reads the logs from the marker's time instead of their end.
struct StateMarker: Codable, Equatable {
    /// The state directory the run saved to.
    var directory: String
    /// When it last saved there (wall clock, microseconds).
    var savedAt: Int64

    /// The marker at `path`, when it is one for `directory` (a hostile or foreign file is
    /// no marker).
    static func load(_ path: String, for directory: String) -> StateMarker? {
        let (dir, name) = splitPath(path)
        guard let m = try? CheckpointStore(directory: dir).load(StateMarker.self, from: name),
              m.directory == directory, m.savedAt > 0, m.savedAt < Int64(1) << 60 else { return nil }
        return m
    }

    func save(to path: String) throws(InputError) {
        let (dir, name) = splitPath(path)
        try CheckpointStore(directory: dir).save(self, as: name)
    }
}

/// Makes `path` and its missing parents (like `mkdir -p`), mode 0750.
func makeDirectories(_ path: String) -> Bool {
    var st = stat()
    if stat(path, &st) == 0 { return st.st_mode & S_IFMT == S_IFDIR }
    if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
        guard makeDirectories(String(path[..<slash])) else { return false }
    }
    return mkdir(path, 0o750) == 0 || errno == EEXIST
}
