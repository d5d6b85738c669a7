-- HR and order-entry schema of the Oracle REST Data Services stub (SQLite dialect).
CREATE TABLE IF NOT EXISTS departments (
    department_id   INTEGER PRIMARY KEY,
    department_name TEXT NOT NULL,
    location        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id     TEXT PRIMARY KEY,
    job_title  TEXT NOT NULL,
    min_salary INTEGER NOT NULL,
    max_salary INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS employees (
    employee_id   INTEGER PRIMARY KEY,
    first_name    TEXT,
    last_name     TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    hire_date     TEXT NOT NULL,
    job_id        TEXT NOT NULL REFERENCES jobs (job_id),
    salary        INTEGER NOT NULL,
    manager_id    INTEGER REFERENCES employees (employee_id),
    department_id INTEGER REFERENCES departments (department_id)
);
CREATE TABLE IF NOT EXISTS salary_history (
    change_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    employee_id INTEGER NOT NULL REFERENCES employees (employee_id),
    old_salary  INTEGER NOT NULL,
    new_salary  INTEGER NOT NULL,
    reason      TEXT,
    changed_by  TEXT NOT NULL,
    changed_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS customers (
    customer_id  INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    country      TEXT NOT NULL,
    credit_limit INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    order_id     INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers (customer_id),
    order_date   TEXT NOT NULL,
    status       TEXT NOT NULL,
    order_total  REAL NOT NULL,
    currency     TEXT NOT NULL,
    sales_rep_id INTEGER REFERENCES employees (employee_id)
);

INSERT OR IGNORE INTO departments VALUES
    (10, 'Administration', 'Seattle'), (50, 'Shipping', 'South San Francisco'),
    (60, 'IT', 'Southlake'), (80, 'Sales', 'Oxford'), (90, 'Executive', 'Seattle');
INSERT OR IGNORE INTO jobs VALUES
    ('AD_PRES', 'President', 20000, 40000), ('AD_ASST', 'Administration Assistant', 3000, 6000),
    ('IT_PROG', 'Programmer', 4000, 10000), ('SA_MAN', 'Sales Manager', 10000, 20000),
    ('SA_REP', 'Sales Representative', 6000, 12000), ('SH_CLERK', 'Shipping Clerk', 2500, 5500);
INSERT OR IGNORE INTO employees VALUES
    (100, 'Steven', 'King', 'SKING', '2013-06-17', 'AD_PRES', 24000, NULL, 90),
    (103, 'Alexander', 'Hunold', 'AHUNOLD', '2016-01-03', 'IT_PROG', 9000, 100, 60),
    (104, 'Bruce', 'Ernst', 'BERNST', '2017-05-21', 'IT_PROG', 6000, 103, 60),
    (107, 'Diana', 'Lorentz', 'DLORENTZ', '2019-02-07', 'IT_PROG', 4200, 103, 60),
    (145, 'John', 'Russell', 'JRUSSELL', '2014-10-01', 'SA_MAN', 14000, 100, 80),
    (150, 'Peter', 'Tucker', 'PTUCKER', '2015-01-30', 'SA_REP', 10000, 145, 80),
    (151, 'David', 'Bernstein', 'DBERNSTE', '2015-03-24', 'SA_REP', 9500, 145, 80),
    (155, 'Oliver', 'Tuvault', 'OTUVAULT', '2017-11-23', 'SA_REP', 7000, 145, 80),
    (184, 'Nandita', 'Sarchand', 'NSARCHAN', '2014-01-27', 'SH_CLERK', 4200, 100, 50),
    (200, 'Jennifer', 'Whalen', 'JWHALEN', '2013-09-17', 'AD_ASST', 4400, 100, 10);
INSERT OR IGNORE INTO customers VALUES
    (1, 'Globex Corporation', 'US', 50000), (2, 'Initech', 'US', 20000),
    (3, 'Soylent Ltd', 'GB', 15000), (4, 'Müller & Söhne KG', 'DE', 30000);
INSERT OR IGNORE INTO orders VALUES
    (2354, 1, '2026-10-02', 'SHIPPED', 46257.00, 'USD', 150),
    (2355, 2, '2026-10-05', 'PENDING', 94513.50, 'USD', 151),
    (2356, 3, '2026-10-19', 'CANCELLED', 29473.80, 'GBP', 155),
    (2357, 4, '2026-11-01', 'SHIPPED', 59872.40, 'EUR', 150),
    (2358, 1, '2026-11-12', 'PENDING', 7826.00, 'USD', 150),
    (2359, 4, '2026-11-20', 'PENDING', 12500.00, 'EUR', 155);
