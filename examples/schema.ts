// Where the example service keeps its schema: an app names its own migrations folder, the package ships none.
import { fileURLToPath } from 'node:url';

/** The repository's top-level migrations/, found from this module so the working directory does not matter. */
export const exampleMigrationsDir = fileURLToPath(new URL('../migrations', import.meta.url));
