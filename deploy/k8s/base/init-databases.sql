-- One database per CloudCart service that keeps state, owned by the role the
-- services log in as (POSTGRES_USER, which also owns the default database).
-- Each service gets its own --postgres-dsn naming its database; a service
-- creates and migrates its own tables at start (internal/sqlstore).
--
-- The postgres image runs this once, on an empty data directory
-- (docker-entrypoint-initdb.d). deploy/k8s/base/init-databases.sql is a
-- copy for the Kubernetes ConfigMap (kustomize reads files below its own
-- folder only): `make generate` writes it, deploy/validate/k8s_test.go
-- fails when it differs.
CREATE DATABASE cloudcart_users;
CREATE DATABASE cloudcart_products;
CREATE DATABASE cloudcart_orders;
CREATE DATABASE cloudcart_chaos;
CREATE DATABASE cloudcart_notifier;
