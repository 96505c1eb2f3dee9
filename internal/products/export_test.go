package products

// RequestTypes are the JSON bodies the service decodes, for the fuzz test.
var RequestTypes = map[string]func() any{
	"product": func() any { return new(productRequest) },
	"stock":   func() any { return new(stockRequest) },
	"reserve": func() any { return new(reserveRequest) },
	"release": func() any { return new(releaseRequest) },
}
