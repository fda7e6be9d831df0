module github.com/tenantgate/tenantgate

go 1.26

require github.com/redis/rueidis v1.0.79

require (
	github.com/AzureAD/microsoft-authentication-library-for-go v1.10.1 // indirect
	github.com/golang-jwt/jwt/v5 v5.2.2 // indirect
	github.com/google/uuid v1.3.0 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sync v0.10.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
