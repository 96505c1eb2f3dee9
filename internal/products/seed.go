package products

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// catalogWords give every category plausible product names.
var catalogWords = map[string][2][]string{
	"books":       {{"Illustrated", "Pocket", "Collected", "Annotated", "Complete"}, {"Atlas", "Cookbook", "Field Guide", "Novel", "Handbook", "Anthology"}},
	"electronics": {{"Wireless", "Compact", "Smart", "Portable", "Noise-Cancelling"}, {"Headphones", "Speaker", "Charger", "Keyboard", "Monitor", "Webcam"}},
	"garden":      {{"Cedar", "Steel", "Self-Watering", "Folding", "Heavy-Duty"}, {"Planter", "Trowel", "Hose", "Pruner", "Seed Kit", "Wheelbarrow"}},
	"grocery":     {{"Organic", "Roasted", "Wild", "Aged", "Cold-Pressed"}, {"Coffee", "Olive Oil", "Honey", "Granola", "Tea", "Rice"}},
	"home":        {{"Linen", "Woven", "Ceramic", "Scented", "Minimal"}, {"Throw", "Lamp", "Vase", "Candle", "Rug", "Clock"}},
	"kitchen":     {{"Cast-Iron", "Nonstick", "Bamboo", "Enamel", "Stainless"}, {"Skillet", "Knife", "Cutting Board", "Dutch Oven", "Kettle", "Whisk"}},
	"outdoors":    {{"Ultralight", "Waterproof", "Insulated", "Trail", "Four-Season"}, {"Tent", "Backpack", "Sleeping Bag", "Headlamp", "Stove", "Bottle"}},
	"sports":      {{"Pro", "Training", "Grip", "Carbon", "Adjustable"}, {"Racket", "Ball", "Gloves", "Dumbbells", "Mat", "Jump Rope"}},
	"toys":        {{"Wooden", "Magnetic", "Plush", "Remote-Control", "Glow"}, {"Blocks", "Puzzle", "Robot", "Train Set", "Kite", "Marble Run"}},
	"clothing":    {{"Merino", "Denim", "Fleece", "Linen", "Waxed"}, {"Jacket", "Sweater", "Scarf", "Cap", "Socks", "Shirt"}},
}

// SeedCatalog returns a deterministic catalog of n products spread across
// the categories, with prices and stock that look like a real shop's: a few
// best sellers near their low-stock threshold, most well stocked.
func SeedCatalog(n int, seed uint64, now time.Time) []*cloudcart.Product {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]*cloudcart.Product, 0, n)
	for i := range n {
		cat := cloudcart.Categories[i%len(cloudcart.Categories)]
		w := catalogWords[cat]
		adj, noun := w[0][rng.IntN(len(w[0]))], w[1][rng.IntN(len(w[1]))]
		stock := 20 + rng.IntN(180)
		if rng.IntN(10) == 0 {
			stock = 10 + rng.IntN(5) // close to the threshold: orders push it over
		}
		out = append(out, &cloudcart.Product{
			SKU:               fmt.Sprintf("%s-%04d", strings.ToUpper(cat[:4]), i+1),
			Name:              adj + " " + noun,
			Description:       fmt.Sprintf("%s %s from the %s range.", adj, strings.ToLower(noun), cat),
			Category:          cat,
			Price:             cloudcart.Money(299 + rng.IntN(25000)),
			Stock:             stock,
			LowStockThreshold: cloudcart.DefaultLowStockThreshold,
			CreatedAt:         now,
			UpdatedAt:         now,
		})
	}
	return out
}
