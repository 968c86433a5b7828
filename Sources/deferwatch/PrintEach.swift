import DeferWatchCore
import DeferWatchDaemon

/// Writes items to standard output: one JSON object a line with `json`, else their text.
func printEach<T>(_ items: [T], json: Bool, _ object: (T, JSONWriter) -> Void, text: (T) -> String) {
    let out = FDWriter(fd: 1)
    let w = JSONWriter()
    for item in items {
        if json {
            w.reset()
            object(item, w)
            w.newline()
            w.withBytes { out.write($0) }
        } else {
            out.write(text(item))
        }
    }
    out.flush()
}
