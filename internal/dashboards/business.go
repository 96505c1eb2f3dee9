package dashboards

// businessKPIs is reference 002's "Business KPIs" dashboard: the order
// funnel and revenue, inventory, users.
func businessKPIs() board {
	return board{
		uid:         "cloudcart-business",
		title:       "Business KPIs",
		file:        "business-kpis.json",
		description: "Orders created and completed, conversion, revenue, inventory, registrations and logins (reference 002's Business KPIs dashboard).",
		tags:        []string{"business", "reference-002"},
		from:        "now-1h",
		vars:        []variable{{name: "category", label: "Category", metric: "products_count_by_category", labelName: "category"}},
		rows: []row{
			{title: "Orders and revenue", panels: []panel{
				statPanel("Orders created", "short",
					q(`sum(increase(orders_created_total[$__range]))`, "orders")).
					describe("Orders stored over the dashboard's time range, whatever their outcome.").
					withDecimals(0).baseColor("blue"),
				statPanel("Revenue", "currencyUSD",
					q(`sum(increase(orders_value_total[$__range]))`, "revenue")).
					describe("Value of the orders processed successfully over the time range (orders_value_total, US dollars).").
					baseColor("blue"),
				statPanel("Conversion (completed / created)", "percentunit",
					q(`sum(increase(orders_completed_total[$__range])) / sum(increase(orders_created_total[$__range]))`, "conversion")).
					describe("Orders delivered over orders created in the time range. Delivery lags creation by the fulfilment delays, so a short range reads low.").
					baseColor("red").thresholds(at(0.5, "orange"), at(0.8, "green")),
				statPanel("Payment success", "percentunit",
					q(`sum(increase(order_payments_processed_total{status="success"}[$__range])) / sum(increase(order_payments_processed_total[$__range]))`, "success")).
					describe("Payments accepted over payment attempts in the time range.").
					baseColor("red").thresholds(at(0.9, "orange"), at(0.98, "green")),
				timeSeries("Order funnel", "ops",
					q(`sum(rate(orders_created_total[$__rate_interval]))`, "created"),
					q(`sum(rate(orders_completed_total[$__rate_interval]))`, "completed"),
					q(`sum(rate(orders_cancelled_total[$__rate_interval]))`, "cancelled")).
					describe("Orders created, completed (delivered) and cancelled per second (reference 002 §5).").
					size(12, 8).withMin(0),
				timeSeries("Revenue per minute", "currencyUSD",
					q(`sum(rate(orders_value_total[$__rate_interval])) * 60`, "revenue / min")).
					describe("Dollars of successfully processed orders per minute.").
					size(12, 8).withMin(0),
			}},
			{title: "Inventory", panels: []panel{
				barGauge("Products by category", "short",
					q(`sum by (category) (products_count_by_category{category=~"$category"})`, "{{category}}")).
					describe("Products per category, read from the catalog database at scrape time.").
					withMin(0).withDecimals(0).baseColor("blue"),
				barGauge("Average price by category", "currencyUSD",
					q(`avg by (category) (product_average_price_dollars{category=~"$category"})`, "{{category}}")).
					describe("Average list price per category.").
					withMin(0).baseColor("blue"),
				barGauge("Most viewed products (5m)", "short",
					q(`topk(10, product_top_viewed_views)`, "{{product_id}}")).
					describe("Views in the last 5 minutes of the 10 most viewed products.").
					size(8, 8).withMin(0).withDecimals(0).baseColor("blue"),
				statPanel("Low-stock products", "short",
					q(`sum(low_stock_products_count)`, "low stock")).
					describe("Products below their low-stock threshold. LowStock fires while this is above 0 for 5m.").
					size(8, 6).withDecimals(0).thresholds(at(1, "orange"), at(10, "red")),
				timeSeries("Stock changes by reason", "ops",
					q(`sum by (reason) (rate(product_stock_updates_total[$__rate_interval]))`, "{{reason}}")).
					describe("Stock changes per product line per second: purchase, cancellation, return, restock.").
					size(16, 6).withMin(0),
			}},
			{title: "Users", panels: []panel{
				statPanel("Registrations (24h)", "short",
					q(`sum(increase(user_registrations_total{status="success"}[1d]))`, "registrations")).
					describe("Successful registrations over the last day.").
					withDecimals(0).baseColor("blue"),
				statPanel("Login success rate", "percentunit",
					q(`sum(rate(user_logins_total{success="true"}[$__rate_interval])) / sum(rate(user_logins_total[$__rate_interval]))`, "success")).
					describe("Successful logins over login attempts.").
					baseColor("red").thresholds(at(0.8, "orange"), at(0.95, "green")),
				statPanel("Users", "short",
					q(`max(total_users_count)`, "registered"),
					q(`max(active_users_count)`, "active")).
					describe("Registered and active user accounts, counted in the user database.").
					withDecimals(0).baseColor("blue"),
				timeSeries("Registrations by status", "ops",
					q(`sum by (status) (rate(user_registrations_total[$__rate_interval]))`, "{{status}}")).
					describe("Registration attempts per second: success, invalid, duplicate, failed.").
					size(6, 5).withMin(0),
				timeSeries("Password hashing p95", "s",
					q(`histogram_quantile(0.95, sum by (le) (rate(password_hashing_duration_seconds_bucket[$__rate_interval])))`, "bcrypt hash p95")).
					describe("bcrypt hashing of new passwords (cost 12 by default).").
					size(12, 8).withMin(0).thresholds(at(0.5, "orange"), at(1, "red")),
				timeSeries("Logins by outcome", "ops",
					q(`sum by (success) (rate(user_logins_total[$__rate_interval]))`, "success={{success}}")).
					describe("Login attempts per second by outcome.").
					size(12, 8).withMin(0),
			}},
		},
	}
}
