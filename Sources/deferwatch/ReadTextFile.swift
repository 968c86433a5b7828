import DeferWatchDaemon

/// The whole of a small text file (rules, configuration).
func readTextFile(_ path: String) throws -> String {
    let reader = ChunkReader(path: path)
    let (fd, _) = try reader.open()
    var bytes: [UInt8] = []
    try reader.read(fd: fd, body: { bytes.append(contentsOf: $0) })
    return String(decoding: bytes, as: UTF8.self)
}
