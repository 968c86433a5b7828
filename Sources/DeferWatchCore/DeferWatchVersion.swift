/// The version deferwatch reports (`--version`, the status socket, `/metrics`).
public enum DeferWatchVersion {
    public static let string = "0.1.0"
}
