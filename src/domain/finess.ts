/**
 * FINESS numbers (Fichier national des établissements sanitaires et sociaux): 9 characters, the first
 * two the département ("2A"/"2B" for Corsica), the last a Luhn check digit over the first eight.
 * For the check, Corsica's letters count as "20", as in the national register's own validation.
 */
export function normaliseFiness(input: string): string {
  return input.replace(/[\s.\-]/g, '').toUpperCase();
}

export function isValidFiness(input: string): boolean {
  const value = normaliseFiness(input);
  if (!/^(\d{2}|2A|2B)\d{7}$/.test(value)) return false;
  const digits = value.replace(/^2[AB]/, '20');
  return luhnValid(digits);
}

function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}
