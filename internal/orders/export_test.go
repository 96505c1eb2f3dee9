package orders

// RequestTypes are the JSON bodies the service decodes, for the fuzz test.
var RequestTypes = map[string]func() any{
	"order": func() any { return new(orderRequest) },
}
