package tenant

// Exported for the tests of authority URLs.
var (
	Authority   = authorityFor
	MetadataURL = metadataURL
)
