package account

// Workers is how many background goroutines serve the queue.
const Workers = workers
